"""The data docs site without the internet: every CDN file of Great Expectations' templates is served from
the site's own ``static/vendor/`` (npm packages of data_quality/docs_assets), pages at any depth find it, a
second run changes nothing, and Debian's Chromium shows a styled site with filled tables while every request
off the loopback is refused."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from playwright.sync_api import Browser, Page

from data_quality import offline_site
from data_quality.offline_site import CDN, MARKER, NODE_MODULES, DocsAssetsMissing, make_offline, pages
from tests.conftest import static_site

# found without importing Great Expectations (seconds)
TEMPLATES = Path(importlib.util.find_spec("great_expectations").origin).parent / "render/view/templates"
LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png"
DARK_LOGO = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png"
# a reference a page makes: src=, href= (not links to other sites) and CSS url()
REFERENCE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"'#]+)["']|url\(\s*["']?([^"')]+)["']?\s*\)""")
DEEP_PAGE = "validations/bronze_events/2024-03-11/20240311T101500.000000Z/2024-03-11.html"


def templates_loads() -> dict[str, str]:
    """The URLs Great Expectations' templates load scripts and styles from -> the tag's integrity hash."""
    tags = re.findall(r"<(?:script|link)\b[^>]*>", "".join(p.read_text() for p in TEMPLATES.glob("*.j2")))
    found = {}
    for tag in tags:
        if url := re.search(r"""(?:src|href)="(https://[^"]+)\"""", tag):
            integrity = re.search(r'integrity="([^"]+)"', tag)
            found[url[1]] = integrity[1] if integrity else ""
    return found


def page_html(head_extra: str = "") -> str:
    """A page as Great Expectations writes one: every CDN URL in a link or script tag (one with an integrity
    hash), the navbar logo with its query, and the dark-mode logo in an inline style."""
    tags = "\n".join(f'<link rel="stylesheet" href="{url}">' if url.endswith(".css") else f'<script src="{url}"></script>'
                     for url in CDN if "popper" not in url)
    return f"""<!DOCTYPE html>
<html>
  <head>
    <title>page</title>
    {tags}
    <script src="https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js" integrity="sha384-x" crossorigin="anonymous"></script>
    <style>.navbar-brand a {{ background: url('{DARK_LOGO}') 0 0 no-repeat; }}</style>{head_extra}
  </head>
  <body><img class="NO-CACHE" src="{LOGO}?d=20240311T101500.000000Z&dataContextId=6c1e0f0e" alt="logo" />
  <a href="https://greatexpectations.io">Great Expectations</a></body>
</html>
"""


def synthetic_site(root: Path) -> Path:
    site = root / "local_site"
    for page in ["index.html", "expectations/bronze_events.html", "expectations/team/sessions.html", DEEP_PAGE]:
        (site / page).parent.mkdir(parents=True, exist_ok=True)
        (site / page).write_text(page_html())
    (site / "static/images").mkdir(parents=True)
    (site / "static/images/logo-long.png").write_bytes(b"png")  # Great Expectations copies it into every site
    return site


def local_references(site: Path, page: Path) -> list[Path]:
    """The files under the site that ``page`` references (and, for copied stylesheets, what they reference)."""
    html = page.read_text()
    refs = [a or b for a, b in REFERENCE.findall(html)]
    return [(page.parent / unquote(ref)).resolve() for ref in refs if not urlparse(ref).scheme]


def snapshot(site: Path) -> dict[str, tuple[int, bytes]]:
    return {p.relative_to(site).as_posix(): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(site.rglob("*")) if p.is_file()}


def test_the_cdn_table_covers_exactly_the_templates_urls():
    assert set(templates_loads()) == set(CDN)


def test_the_npm_files_are_the_bytes_the_templates_pin():
    pinned = {url: integrity for url, integrity in templates_loads().items() if integrity}
    assert sorted(pinned) == ["https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",
                              "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js"]
    for url, integrity in pinned.items():
        digest = base64.b64encode(hashlib.sha384((NODE_MODULES / CDN[url]).read_bytes()).digest()).decode()
        assert integrity == f"sha384-{digest}"


def test_pages_at_any_depth_load_local_copies_only(tmp_path: Path):
    site = synthetic_site(tmp_path)
    done = make_offline(site)

    assert [p.relative_to(site).as_posix() for p in done.rewritten] == [
        "expectations/bronze_events.html", "expectations/team/sessions.html", "index.html", DEEP_PAGE]
    assert done.unmapped == set()
    for page in pages(site):
        html = page.read_text()
        assert re.findall(r"https://[^\"' ]+", html) == ["https://greatexpectations.io"]  # a link, not a load
        assert "integrity=" not in html and "crossorigin" not in html
        assert html.count(MARKER) == 1
        references = local_references(site, page)
        assert len(references) == len(CDN) + 2
        assert [ref for ref in references if not ref.is_file()] == []
        assert all(ref.is_relative_to(site.resolve()) for ref in references)
    deep = (site / DEEP_PAGE).read_text()
    assert '<script src="../../../../static/vendor/popper.js/dist/umd/popper.min.js"></script>' in deep
    assert '<img class="NO-CACHE" src="../../../../static/images/logo-long.png" alt="logo" />' in deep
    assert "url('../../../../static/images/logo-long.png')" in deep
    assert '<script src="static/vendor/vega/build/vega.min.js"></script>' in (site / "index.html").read_text()
    assert '<script src="../../static/vendor/vega-embed/build/vega-embed.min.js"></script>' in (
        site / "expectations/team/sessions.html").read_text()

    fontawesome = site / "static/vendor/@fortawesome/fontawesome-free/css/all.min.css"
    fonts = sorted({(fontawesome.parent / ref).resolve() for ref in re.findall(r"url\(([^)]+)\)", fontawesome.read_text())
                    if not ref.startswith("data:")})
    assert [f.name for f in fonts] == ["fa-brands-400.ttf", "fa-brands-400.woff2", "fa-regular-400.ttf",
                                       "fa-regular-400.woff2", "fa-solid-900.ttf", "fa-solid-900.woff2",
                                       "fa-v4compatibility.ttf", "fa-v4compatibility.woff2"]
    assert all(f.is_file() for f in fonts)


def test_a_second_run_changes_nothing_and_a_later_build_rewrites_only_its_new_pages(tmp_path: Path):
    site = synthetic_site(tmp_path)
    first = make_offline(site)
    before = snapshot(site)

    again = make_offline(site)
    assert (again.rewritten, again.skipped, again.copied) == ([], 4, 0)
    assert snapshot(site) == before

    # the next docs build renders the index again and the page of a new result; older pages stay
    (site / "index.html").write_text(page_html())
    new_page = site / DEEP_PAGE.replace("2024-03-11", "2024-03-12")
    new_page.parent.mkdir(parents=True)
    new_page.write_text(page_html())
    later = make_offline(site)
    assert (later.rewritten, later.skipped, later.copied) == ([site / "index.html", new_page], 3, 0)
    assert (site / "index.html").read_text() == before["index.html"][1].decode()
    assert new_page.read_text() == (site / DEEP_PAGE).read_text()
    assert {name: state for name, state in snapshot(site).items() if name not in (
        "index.html", new_page.relative_to(site).as_posix())} == {
        name: state for name, state in before.items() if name != "index.html"}
    assert first.copied == len(before) - 5  # everything but the 4 pages and the logo came from node_modules


def test_an_unknown_external_script_is_reported(tmp_path: Path):
    site = synthetic_site(tmp_path)
    (site / "index.html").write_text(page_html('\n<script src="https://cdn.example.org/chart@7"></script>'))
    assert make_offline(site).unmapped == {"https://cdn.example.org/chart@7"}


def test_missing_packages_name_the_command_that_installs_them(tmp_path: Path):
    site = synthetic_site(tmp_path)
    with pytest.raises(DocsAssetsMissing, match=r"is missing\): run make setup \(or: npm ci --ignore-scripts "
                                                r"--prefix data_quality/docs_assets\)"):
        make_offline(site, node_modules=tmp_path / "node_modules")

    partial = tmp_path / "partial"
    shutil.copytree(NODE_MODULES / "jquery", partial / "jquery")
    with pytest.raises(DocsAssetsMissing) as missing:
        make_offline(site, node_modules=partial)
    message = str(missing.value)
    assert message.startswith(f"{partial} lacks @forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css, "
                              "@fortawesome/fontawesome-free/css/all.min.css, @fortawesome/fontawesome-free/webfonts/, ")
    assert message.endswith(", vega/build/vega.min.js: it does not match data_quality/docs_assets/package-lock.json; "
                            "run make setup (or: npm ci --ignore-scripts --prefix data_quality/docs_assets)")
    assert "jquery" not in message
    assert "static/vendor" not in {p.relative_to(site).parent.as_posix() for p in site.rglob("*")}
    assert all(MARKER not in page.read_text() for page in pages(site))


# A real site, built by the project from two small validation results, and Debian's Chromium.

@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data docs site of two results of a three-rule suite (one rule with a chart), made offline."""
    import great_expectations as gx
    import pandas as pd

    from analytics_settings import load_settings
    from data_quality import execution, project
    from data_quality.batch import Batch

    def suite() -> list:
        return [gx.expectations.ExpectColumnValuesToNotBeNull(column="user_id"),
                gx.expectations.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=100),
                gx.expectations.ExpectColumnKLDivergenceToBeLessThan(
                    column="amount", partition_object={"bins": [0, 50, 150], "weights": [0.5, 0.5]}, threshold=0.1)]

    settings = load_settings(data_dir=tmp_path_factory.mktemp("offline_site"))
    frame = pd.DataFrame({"user_id": ["a", "b", None, "d"], "amount": [1, 5, 7, 120]})
    for day in ["2024-03-11", "2024-03-12"]:
        run_id = gx.RunIdentifier(run_name=day, run_time=datetime.now(UTC))
        result = execution.run_suite("tiny_suite", suite(), Batch(frame), run_id)
        project.save(settings, "tiny_suite", suite(), result, run_id, day)
    index = project.build_data_docs(settings)
    make_offline(index.parent)
    return index.parent


@pytest.fixture(scope="module")
def served(built_site: Path) -> Iterator[str]:
    """The site on a loopback HTTP server rooted at the site folder."""
    with static_site(built_site) as url:
        yield url


@pytest.mark.slow
def test_a_built_site_loads_nothing_from_elsewhere(built_site: Path):
    found = pages(built_site)
    assert [p.relative_to(built_site).parts[0] for p in found] == [
        "expectations", "index.html", "validations", "validations"]
    for page in found:
        assert offline_site.external_loads(page.read_text()) == set()
        assert not re.search(r"cdn|unpkg\.com|code\.jquery\.com|amazonaws", page.read_text())
        assert [ref for ref in local_references(built_site, page)
                if "static/vendor" in ref.as_posix() and not ref.is_file()] == []
    assert make_offline(built_site).rewritten == []


def open_offline(browser: Browser, url: str, color_scheme: str) -> tuple[Page, list[str], list[str]]:
    """``url`` in a fresh context that refuses every request off the loopback; the page, those requests, and
    the page's script errors and failed loads."""
    context = browser.new_context(color_scheme=color_scheme)
    context.set_default_timeout(15_000)
    outside: list[str] = []
    problems: list[str] = []

    def only_loopback(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith("file:") or host == "127.0.0.1":
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    # Great Expectations' own favicon link on result pages misses by one folder (GE's bug, not a CDN)
    page.on("requestfailed", lambda request: "favicon" in request.url or problems.append(f"failed: {request.url}"))
    page.on("response", lambda response: response.status < 400 or "favicon" in response.url
            or problems.append(f"{response.status}: {response.url}"))
    page.goto(url, wait_until="load")
    return page, outside, problems


def assert_styled_and_filled(page: Page) -> None:
    """Bootstrap's styles apply, the plugins loaded, and the index's table holds one row per result."""
    assert page.evaluate("getComputedStyle(document.querySelector('nav.navbar')).display") == "flex"
    assert page.evaluate("getComputedStyle(document.body).fontFamily").startswith("-apple-system")
    assert page.evaluate("[typeof vega, typeof vegaLite, typeof vegaEmbed, typeof Popper, typeof $.fn.bootstrapTable,"
                         " typeof $.fn.datepicker, typeof $.fn.tooltip]") == ["object", "object", "function",
                                                                              "function", "function", "function",
                                                                              "function"]
    assert page.evaluate("document.fonts.load('900 16px \"Font Awesome 6 Free\"').then(f => f.length)") == 1


@pytest.mark.slow
@pytest.mark.parametrize(("via", "color_scheme"), [("http", "light"), ("file", "dark")])  # dark: its own logo rule
def test_the_site_is_styled_and_its_tables_filled_with_no_network(built_site: Path, served: str, browser: Browser,
                                                                  via: str, color_scheme: str):
    base = served if via == "http" else built_site.as_uri()
    page, outside, problems = open_offline(browser, f"{base}/index.html", color_scheme)
    rows = page.locator("#section-1-content-block-2-1-body-table tbody tr")
    rows.first.wait_for()
    results = [p.relative_to(built_site).as_posix() for p in pages(built_site)
               if p.relative_to(built_site).parts[0] == "validations"]
    # sorted by run time to the second: both runs may share it
    assert sorted(row.get_attribute("data-href") for row in rows.all()) == results
    assert rows.first.locator("i.fa-times").evaluate("i => getComputedStyle(i, '::before').fontFamily") == \
        '"Font Awesome 6 Free"'
    assert_styled_and_filled(page)

    rows.first.click()  # the row opens its result: a page four folders down, with a chart drawn by vega-embed
    page.wait_for_url(re.compile(r"/validations/tiny_suite/2024-03-1[12]/.*\.html$"))
    page.locator("[id$='-graph'] canvas, [id*='-graph-child-'] canvas").first.wait_for()
    assert page.locator("[id$='-graph'] canvas, [id*='-graph-child-'] canvas").count() == 2
    assert_styled_and_filled(page)
    assert outside == [] and problems == []
    page.context.close()
