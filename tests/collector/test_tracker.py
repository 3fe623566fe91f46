"""The browser tracker (collector/static/t.js) in Debian's Chromium, talking cross-origin to a real collector.

Pages come from a second loopback HTTP server, so every request the tracker makes is a real CORS request.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext

from tests.conftest import static_site

TRACKER_JS = Path(__file__).resolve().parents[2] / "collector" / "static" / "t.js"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AnalyticsStackTest/1.0"
UTM = "utm_source=newsletter&utm_medium=email&utm_campaign=spring_sale&utm_term=analytics&utm_content=hero"
STORED_QUEUE = "() => JSON.parse(localStorage.getItem('ast.queue') || '[]').length"


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile (empty localStorage) with a known locale, time zone, user agent and screen."""
    ctx = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin", user_agent=USER_AGENT,
                              viewport={"width": 1200, "height": 700},
                              screen={"width": 1280, "height": 800}, device_scale_factor=2)
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A static site on its own loopback port: (base URL, folder to write pages into)."""
    root = tmp_path / "site"
    root.mkdir()
    with static_site(root) as url:
        yield url, root


def by_name(events: list[dict]) -> dict[str, dict]:
    """Events keyed by track event name, page name or type; each key must occur once."""
    keyed: dict[str, dict] = {}
    for event in events:
        key = event.get("event") or event.get("name") or event["type"]
        assert key not in keyed, f"{key!r} landed twice"
        keyed[key] = event
    return keyed


def test_tracker_sends_page_track_identify_group_clicks_and_beacon(collector_server, site, context):
    collector = collector_server()
    base, root = site
    snippet = f'<script src="{collector.url}/t.js" data-write-key="wk_test" data-host="{collector.url}"'
    (root / "index.html").write_text(f"""<!doctype html><html><head><title>Home page</title>
{snippet}></script></head><body>
<button id="cta" data-track="CTA Clicked" data-track-properties='{{"position": "hero", "variant": 2}}'>
  <span id="cta-label">Start free trial</span></button>
<button id="broken" data-track="Broken Props" data-track-properties='{{oops'>bad markup</button>
<a id="to-pricing" href="pricing.html" data-track="Nav Clicked">Pricing</a>
<script>analytics.page('Home', {{section: 'landing'}});</script>
</body></html>""")
    # Nothing but the pagehide beacon can deliver this page's events: the timer is 10 minutes away.
    (root / "pricing.html").write_text(f"""<!doctype html><html><head><title>Pricing</title>
{snippet} data-flush-interval="600000"></script></head><body>
<script>analytics.page('Pricing'); analytics.track('Pricing Viewed', {{plans: 3}});</script>
</body></html>""")

    page = context.new_page()
    home_url = f"{base}/index.html?{UTM}"
    page.goto(home_url)
    page.evaluate("analytics.track('Signup Started', {plan: 'pro', seats: 3})")
    page.click("#cta-label")  # a child of the data-track element
    page.click("#broken")
    page.evaluate("analytics.identify('user-42', {email: 'ada@example.com'})")
    page.evaluate("analytics.group('acme', {plan: 'enterprise'})")
    page.evaluate("analytics.flush()")
    assert page.evaluate(STORED_QUEUE) == 0
    anonymous_id = page.evaluate("analytics.user().anonymousId")

    with page.expect_navigation():
        page.click("#to-pricing")  # queued, then sent by the beacon as the page goes
    page.wait_for_function("typeof analytics !== 'undefined' && localStorage.getItem('ast.queue')")
    assert page.evaluate(STORED_QUEUE) == 2  # page + track wait for the long timer
    page.goto("about:blank")  # pagehide: the beacon takes them
    collector.wait_for_events(lambda events: len(events) >= 9)
    collector.stop()

    assert collector.landing_files(include_open=False), "SIGTERM should have sealed the landing file"
    assert not list(collector.landing.glob("**/*.open"))
    events = collector.landed_events()
    assert Counter((e["type"], e.get("event") or e.get("name")) for e in events) == Counter({
        ("page", "Home"): 1, ("track", "Signup Started"): 1, ("track", "CTA Clicked"): 1,
        ("track", "Broken Props"): 1, ("identify", None): 1, ("group", None): 1, ("track", "Nav Clicked"): 1,
        ("page", "Pricing"): 1, ("track", "Pricing Viewed"): 1,
    })
    named = by_name(events)

    assert named["Home"]["properties"] == {
        "name": "Home", "section": "landing", "path": "/index.html", "referrer": "", "search": f"?{UTM}",
        "title": "Home page", "url": home_url,
    }
    assert named["Signup Started"]["properties"] == {"plan": "pro", "seats": 3}
    assert named["CTA Clicked"]["properties"] == {"position": "hero", "variant": 2}
    assert named["Broken Props"]["properties"] == {"raw": "{oops"}
    assert named["identify"]["traits"] == {"email": "ada@example.com"}
    assert named["group"]["groupId"] == "acme"
    assert named["group"]["traits"] == {"plan": "enterprise"}
    assert named["Pricing Viewed"]["properties"] == {"plans": 3}

    # Identity: one anonymousId across both page loads; the userId from identify on, persisted.
    assert {e["anonymousId"] for e in events} == {anonymous_id}
    assert UUID.match(anonymous_id)
    before = ["Home", "Signup Started", "CTA Clicked", "Broken Props"]
    after = ["identify", "group", "Nav Clicked", "Pricing", "Pricing Viewed"]
    assert [named[k].get("userId") for k in before] == [None] * 4
    assert [named[k]["userId"] for k in after] == ["user-42"] * 5

    # Envelope and context.
    assert len({e["messageId"] for e in events}) == 9
    assert all(UUID.match(e["messageId"]) for e in events)
    assert {e["sourceId"] for e in events} == {"web"}
    assert not any("writeKey" in e for e in events)
    sessions = {e["context"]["sessionId"] for e in events}
    assert len(sessions) == 1 and UUID.match(sessions.pop())
    for event in events:
        datetime.fromisoformat(event["timestamp"])
        datetime.fromisoformat(event["sentAt"])
        ctx = event["context"]
        assert ctx["locale"] == "de-DE"
        assert ctx["timezone"] == "Europe/Berlin"
        assert ctx["userAgent"] == USER_AGENT
        assert ctx["screen"] == {"width": 1280, "height": 800, "density": 2}
        assert ctx["library"] == {"name": "analytics-stack-t.js", "version": "0.1.0"}

    pricing_url = f"{base}/pricing.html"
    for key in before + ["identify", "group", "Nav Clicked"]:
        assert named[key]["context"]["page"] == {
            "path": "/index.html", "referrer": "", "search": f"?{UTM}", "title": "Home page", "url": home_url}
        assert named[key]["context"]["campaign"] == {
            "source": "newsletter", "medium": "email", "name": "spring_sale", "term": "analytics",
            "content": "hero"}
    for key in ["Pricing", "Pricing Viewed"]:
        assert named[key]["context"]["page"] == {
            "path": "/pricing.html", "referrer": home_url, "search": "", "title": "Pricing", "url": pricing_url}
        assert "campaign" not in named[key]["context"]


def test_events_queued_while_collector_is_down_arrive_once_it_starts(collector_server, unused_port, site,
                                                                     context):
    port = unused_port  # nothing listens here until the collector starts
    base, root = site
    shutil.copy(TRACKER_JS, root / "t.js")  # the collector that would serve it is down
    (root / "offline.html").write_text(f"""<!doctype html><html><head><title>Offline</title>
<script src="/t.js"></script>
<script>
  analytics.init({{writeKey: 'wk_test', host: 'http://127.0.0.1:{port}', flushInterval: 200,
                   retryBaseDelay: 100, retryMaxDelay: 400}});
  analytics.page('Offline');
  analytics.track('Queued While Down', {{attempt: 1}});
</script></head><body></body></html>""")

    page = context.new_page()
    page.goto(f"{base}/offline.html")
    page.wait_for_timeout(800)  # a few failed attempts with backoff
    assert page.evaluate(STORED_QUEUE) == 2
    page.reload()  # the stored queue survives; the reload adds two more events
    assert page.evaluate(STORED_QUEUE) == 4

    collector = collector_server(port=port)
    collector.wait_for_events(lambda events: len(events) >= 4, timeout=15)
    page.wait_for_function(f"({STORED_QUEUE})() === 0")
    collector.stop()

    events = collector.landed_events()
    assert Counter((e["type"], e.get("event") or e.get("name")) for e in events) == Counter({
        ("page", "Offline"): 2, ("track", "Queued While Down"): 2})
    assert len({e["messageId"] for e in events}) == 4
    assert len({e["anonymousId"] for e in events}) == 1


def test_refused_batch_is_dropped_not_retried(collector_server, site, context):
    collector = collector_server()
    base, root = site
    (root / "wrong-key.html").write_text(f"""<!doctype html><html><head><title>Wrong key</title>
<script src="{collector.url}/t.js"></script>
<script>
  analytics.init({{writeKey: 'wk_not_a_key', host: '{collector.url}', flushInterval: 100,
                   retryBaseDelay: 50, retryMaxDelay: 100}});
  analytics.track('Never Lands');
</script></head><body></body></html>""")
    page = context.new_page()
    posts: list[int] = []
    page.on("response", lambda r: posts.append(r.status) if r.url.endswith("/v1/batch") else None)
    page.goto(f"{base}/wrong-key.html")
    page.wait_for_timeout(1000)  # ten timer ticks and several backoff periods
    assert posts == [401]
    assert page.evaluate(STORED_QUEUE) == 0
    collector.stop()
    assert collector.landed_events() == []


def test_identity_session_and_queue_rules(site, context, unused_port):
    """Checked on the stored queue: the collector is down, so nothing leaves the page."""
    base, root = site
    shutil.copy(TRACKER_JS, root / "t.js")
    (root / "rules.html").write_text(f"""<!doctype html><html><head><title>Rules</title>
<script>if (!location.hash) window.analytics = [['track', 'Early Bird', {{early: true}}]];</script>
<script src="/t.js"></script>
<script>analytics.init({{writeKey: 'wk_test', host: 'http://127.0.0.1:{unused_port}',
                         flushInterval: 600000, flushAt: 100000}});</script></head><body></body></html>""")
    page = context.new_page()
    page.goto(f"{base}/rules.html")
    stored = "JSON.parse(localStorage.getItem('ast.queue')).map(item => [item.e.event, item.e.properties])"
    assert page.evaluate(stored) == [["Early Bird", {"early": True}]]  # a call made before t.js loaded
    page.goto(f"{base}/rules.html#later")  # same document: no second Early Bird on the reloads below
    last = "() => { const q = JSON.parse(localStorage.getItem('ast.queue')); return q[q.length - 1].e; }"

    def track(name: str) -> dict:
        page.evaluate(f"analytics.track({name!r})")
        return page.evaluate(last)

    first = track("A")
    assert track("B")["context"]["sessionId"] == first["context"]["sessionId"]
    # 31 minutes without events end the session.
    page.evaluate("""() => { const s = JSON.parse(localStorage.getItem('ast.session'));
                             s.last -= 31 * 60 * 1000; localStorage.setItem('ast.session', JSON.stringify(s)); }""")
    page.reload()  # the tracker keeps a parsed copy; a reload reads localStorage again
    second = track("C")
    assert second["context"]["sessionId"] != first["context"]["sessionId"]
    assert track("D")["context"]["sessionId"] == second["context"]["sessionId"]

    page.evaluate("analytics.identify('user-7')")
    assert track("E")["userId"] == "user-7"
    page.evaluate("analytics.reset()")
    after_reset = track("F")
    assert "userId" not in after_reset
    assert after_reset["anonymousId"] != first["anonymousId"]
    assert after_reset["context"]["sessionId"] != second["context"]["sessionId"]

    # Wiped localStorage: the anonymousId comes back from the cookie.
    page.evaluate("localStorage.clear()")
    page.reload()
    assert track("G")["anonymousId"] == after_reset["anonymousId"]

    # The stored queue keeps the newest 1000 events.
    page.evaluate("""() => localStorage.setItem('ast.queue', JSON.stringify(Array.from({length: 1000},
        (_, i) => ({e: {type: 'track', event: 'Old ' + i, messageId: 'old-' + i, anonymousId: 'a'}, l: 0}))))""")
    # as if another tab had written it (a tab's own writes raise no storage event)
    page.evaluate("window.dispatchEvent(new StorageEvent('storage', {key: 'ast.queue'}))")
    for name in ("New 1", "New 2", "New 3"):
        track(name)
    names = page.evaluate("JSON.parse(localStorage.getItem('ast.queue')).map(item => item.e.event)")
    assert names == [f"Old {i}" for i in range(3, 1000)] + ["New 1", "New 2", "New 3"]


def test_pagehide_splits_a_large_queue_and_the_rest_goes_next_visit(collector_server, site, context):
    collector = collector_server()
    base, root = site
    (root / "big.html").write_text(f"""<!doctype html><html><head><title>Big</title>
<script src="{collector.url}/t.js" data-write-key="wk_test" data-host="{collector.url}"
        data-flush-interval="600000" data-flush-at="1000"></script></head><body>
<script>if (location.search === '?fill') for (let i = 0; i < 30; i++)
  analytics.track('Big ' + i, {{padding: 'x'.repeat(5000)}});</script></body></html>""")
    page = context.new_page()
    page.goto(f"{base}/big.html?fill")
    assert page.evaluate(STORED_QUEUE) == 30
    page.goto("about:blank")  # pagehide: beacons of at most 60 KB until Chromium's 64 KB quota refuses one
    first_wave = len(collector.wait_for_events(lambda events: len(events) >= 1))
    page.goto(f"{base}/big.html")  # the next visit sends what the beacons could not carry
    collector.wait_for_events(lambda events: len(events) >= 30)
    collector.stop()

    events = collector.landed_events()
    assert sorted(e["event"] for e in events) == sorted(f"Big {i}" for i in range(30))
    assert len({e["messageId"] for e in events}) == 30
    assert first_wave >= 10  # one full beacon at least
    assert len({e["sentAt"] for e in events}) >= 2  # more than one request
