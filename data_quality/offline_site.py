"""Make the data docs site work without the internet: the styles, scripts and fonts that Great
Expectations' templates load from public CDNs are copied into ``<site>/static/vendor/`` from the npm
packages pinned in ``data_quality/docs_assets/`` (``npm ci --ignore-scripts --prefix
data_quality/docs_assets``), and every page is rewritten to load them by a path relative to itself, which
works both from ``file://`` and from an HTTP server rooted at the site folder.

    from data_quality.offline_site import make_offline
    make_offline(site)          # after every docs build; a page is rewritten once

Rewritten pages carry ``MARKER`` right after ``<head>``, so a later run reads 4 KB of each older page and
skips it: builds are incremental (``project.build_data_docs`` renders only new pages, the index and the
suites), and so is this.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

NODE_MODULES = Path(__file__).resolve().parent / "docs_assets" / "node_modules"
VENDOR = "static/vendor"  # under the site; files keep their path under node_modules
MARKER = '<meta name="data-docs-assets" content="local">'
INSTALL = "make setup (or: npm ci --ignore-scripts --prefix data_quality/docs_assets)"

# Every CDN URL of Great Expectations 1.24's templates (render/view/templates/*.j2) -> the same file in the
# npm package of the same version (data_quality/docs_assets/package.json). The files whose templates pin a
# Subresource Integrity hash (popper, bootstrap.min.js) are byte-identical to the CDN's (tested).
CDN: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": "bootstrap/dist/js/bootstrap.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": "popper.js/dist/umd/popper.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    # the templates take the filter-control styles from 1.19.0; 1.19.1's differ only in the version banner
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    # jsDelivr serves a package's "jsdelivr" file for a bare range: the latest 5.x / 6.x, pinned in package.json
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}

# What a copied file loads by a path relative to itself (folders under node_modules, copied whole). Source
# maps are left out: only an open devtools asks for them, and they would add 6 MB to every site.
COMPANIONS: dict[str, tuple[str, ...]] = {
    "@fortawesome/fontawesome-free/css/all.min.css": ("@fortawesome/fontawesome-free/webfonts",),
}

# The navbar logo comes from Great Expectations' S3 bucket, with the render time and the project's id in the
# query (a beacon); the site has its own copy (GE copies render/view/static/ into every site). There is no
# local dark-mode logo: dark mode shows the regular one.
GX_WEB_ASSETS: dict[str, str] = {
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png":
        "static/images/logo-long.png",
    "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png":
        "static/images/logo-long.png",
}

LOCAL: dict[str, str] = {**{url: f"{VENDOR}/{file}" for url, file in CDN.items()}, **GX_WEB_ASSETS}

_END = r"""(?=["'\s<>)])"""  # a URL ends at a quote, a space, a tag or a CSS url( )
_URL = re.compile("(?P<url>" + "|".join(re.escape(url) for url in sorted(LOCAL, key=len, reverse=True)) + ")"
                  + r"""(?:\?[^"'\s<>)]*)?""" + _END)
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
# Integrity checks need a CORS fetch, which Chromium refuses for file:// pages; the pinned npm files are
# checked against the templates' hashes by the tests instead.
_SRI = re.compile(r"""\s+(?:integrity\s*=\s*(?:"[^"]*"|'[^']*')|crossorigin(?:\s*=\s*(?:"[^"]*"|'[^']*'|[\w-]+))?)""",
                  re.IGNORECASE)
_HEAD = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
# What a page loads from elsewhere (links a reader follows are not loads)
_EXTERNAL_LOAD = re.compile(
    r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"'\s)]+)""", re.IGNORECASE)
_HEAD_BYTES = 4096

log = logging.getLogger(__name__)


class DocsAssetsMissing(FileNotFoundError):
    """The npm packages the site's pages need are not installed."""


@dataclass
class OfflineSite:
    """What one run did: pages rewritten (the new ones), pages already rewritten before, vendor files copied,
    and external URLs pages still load because ``CDN`` does not know them (a new Great Expectations)."""

    rewritten: list[Path] = field(default_factory=list)
    skipped: int = 0
    copied: int = 0
    unmapped: set[str] = field(default_factory=set)


def make_offline(site: Path, node_modules: Path = NODE_MODULES) -> OfflineSite:
    """Copy the vendor files into ``site`` and rewrite the pages not rewritten yet to load them from there."""
    files = vendor_files(node_modules)
    done = OfflineSite(copied=_copy(node_modules, files, site / VENDOR))
    for page in pages(site):
        if _is_rewritten(page):
            done.skipped += 1
            continue
        html = page.read_text(encoding="utf-8")
        local = localize(html, _to_site(site, page))
        if local == html:  # no <head> for the marker and nothing to rewrite: leave the page as it is
            done.skipped += 1
            continue
        _write(page, local)
        done.rewritten.append(page)
        done.unmapped |= external_loads(local)
    if done.unmapped:
        log.warning("data docs pages still load %s: add them to data_quality/offline_site.CDN and "
                    "data_quality/docs_assets/package.json", ", ".join(sorted(done.unmapped)))
    return done


def localize(html: str, to_site: str) -> str:
    """``html`` with every known CDN URL replaced by ``to_site`` + the local copy's path in the site (``to_site``
    is the page's way to the site folder: ``""`` for the index, ``"../../"`` two folders down), integrity
    attributes of those tags dropped, and ``MARKER`` after ``<head>``."""
    html = _TAG.sub(lambda tag: _SRI.sub("", tag[0]) if _URL.search(tag[0]) else tag[0], html)
    html = _URL.sub(lambda found: to_site + LOCAL[found["url"]], html)
    return html if MARKER in html else _HEAD.sub(lambda head: head[0] + MARKER, html, count=1)


def external_loads(html: str) -> set[str]:
    """The URLs on other hosts that ``html`` loads (scripts, styles, images, CSS ``url()``)."""
    return {a or b for a, b in _EXTERNAL_LOAD.findall(html)}


def pages(site: Path) -> list[Path]:
    """Every ``.html`` page of the site (index, expectations/, validations/, at any depth), not ``static/``."""
    found = []
    for folder, subfolders, names in os.walk(site):
        if Path(folder) == site and "static" in subfolders:
            subfolders.remove("static")
        found += [Path(folder, name) for name in names if name.endswith(".html")]
    return sorted(found)


def vendor_files(node_modules: Path = NODE_MODULES) -> list[str]:
    """The files to copy, as paths under ``node_modules``; raises ``DocsAssetsMissing`` (with the command to
    run) when the packages are not installed or are not the versions of package.json."""
    if not node_modules.is_dir():
        raise DocsAssetsMissing(f"the data docs assets are not installed ({node_modules} is missing): run {INSTALL}")
    files = set(CDN.values()) | set(COMPANIONS)
    missing = [file for file in files if not (node_modules / file).is_file()]
    for folder in (folder for folders in COMPANIONS.values() for folder in folders):
        found = [path for path in (node_modules / folder).rglob("*") if path.is_file()]
        files |= {path.relative_to(node_modules).as_posix() for path in found}
        missing += [] if found else [f"{folder}/"]
    if missing:
        raise DocsAssetsMissing(f"{node_modules} lacks {', '.join(sorted(missing))}: it does not match "
                                f"data_quality/docs_assets/package-lock.json; run {INSTALL}")
    return sorted(files)


def _copy(node_modules: Path, files: list[str], vendor: Path) -> int:
    """Copy what is missing or differs (size, modification time: copies keep the source's); how many."""
    copied = 0
    for file in files:
        source, target = node_modules / file, vendor / file
        have, want = (target.stat() if target.exists() else None), source.stat()
        if have and have.st_size == want.st_size and have.st_mtime_ns == want.st_mtime_ns:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copy2(source, partial)
        partial.replace(target)
        copied += 1
    return copied


def _is_rewritten(page: Path) -> bool:
    with open(page, "rb") as html:
        return MARKER.encode() in html.read(_HEAD_BYTES)


def _to_site(site: Path, page: Path) -> str:
    up = Path(os.path.relpath(site, page.parent)).as_posix()
    return "" if up == "." else up + "/"


def _write(page: Path, html: str) -> None:
    """Replace the page in one step: someone may be reading the site while it is built."""
    partial = page.with_name(page.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(page)
