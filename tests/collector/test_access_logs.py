"""Access log import on real folders: parsing, skip rules, quarantine, visitor ids and incremental re-runs."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.access_logs import DEFAULT_SALT, UnparseableLine, import_access_logs, parse_line
from collector.landing import sealed_files

NOW_MS = 1_791_792_000_000  # 2026-10-12T08:00:00Z, the import's received time
RECEIVED_AT = "2026-10-12T08:00:00.000Z"
SITE = "https://shop.example.com"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:130.0) Gecko/20100101 Firefox/130.0"
SAFARI = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Safari/605.1.15"
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) Mobile/15E148 Safari/604.1"
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

ACCESS_LOG = [
    # 1: a page view, +0200 local time
    (f'203.0.113.7 - - [10/Oct/2026:13:55:36 +0200] "GET /products/shoes?color=red HTTP/1.1" 200 2326 '
    f'"https://www.google.com/" "{FIREFOX}"'),
    # 2, 3: static assets (by prefix, by extension in any case)
    (f'203.0.113.7 - - [10/Oct/2026:13:55:37 +0200] "GET /static/app.css HTTP/1.1" 200 512 '
    f'"https://shop.example.com/products/shoes?color=red" "{FIREFOX}"'),
    f'203.0.113.7 - - [10/Oct/2026:13:55:38 +0200] "GET /img/logo.PNG HTTP/1.1" 200 4096 "-" "{FIREFOX}"',
    # 4: a form post
    f'203.0.113.7 - - [10/Oct/2026:13:56:10 +0200] "POST /cart HTTP/1.1" 200 87 "-" "{FIREFOX}"',
    # 5, 6: not found, moved
    f'198.51.100.23 - - [10/Oct/2026:13:57:00 +0200] "GET /missing HTTP/1.1" 404 153 "-" "{SAFARI}"',
    f'198.51.100.23 - - [10/Oct/2026:13:57:01 +0200] "GET /old-page HTTP/1.1" 301 0 "-" "{SAFARI}"',
    # 7: a crawler: kept, flagged
    f'66.249.66.1 - - [10/Oct/2026:14:00:00 +0200] "GET /products/boots HTTP/1.1" 200 3100 "-" "{GOOGLEBOT}"',
    # 8: garbage
    "this is not an access log line",
    # 9: IPv6 client, HTTP/2, late local evening
    f'2001:db8::42 - - [10/Oct/2026:23:59:59 +0200] "GET / HTTP/2.0" 200 900 "-" "{IPHONE}"',
    # 10: Apache escapes a quote inside the agent as \"
    (r'192.0.2.10 - - [10/Oct/2026:14:01:00 +0200] "GET /search?q=%22red+shoes%22 HTTP/1.1" 200 1200 '
    r'"https://shop.example.com/" "Mozilla/5.0 (compatible; \"Quoted\" Agent/1.0)"'),
    # 11: a Kubernetes probe
    '10.0.0.5 - - [10/Oct/2026:14:01:05 +0200] "GET /healthz HTTP/1.1" 200 2 "-" "kube-probe/1.29"',
    # 12: next local day, same UTC day as line 1; 13: the next UTC day, a HEAD revalidation (304)
    f'203.0.113.7 - - [11/Oct/2026:01:30:00 +0200] "GET /products/shoes HTTP/1.1" 200 2326 "-" "{FIREFOX}"',
    f'203.0.113.7 - - [11/Oct/2026:02:30:00 +0200] "HEAD /products/shoes HTTP/1.1" 304 0 "-" "{FIREFOX}"',
    # 14: common format, a remote user, no byte count
    '203.0.113.9 - alice [10/Oct/2026:14:02:00 +0200] "GET /account HTTP/1.0" 200 -',
    # 15: a preflight; 16: a TLS probe the server answered with 400; 17: an impossible date
    '203.0.113.7 - - [10/Oct/2026:14:03:00 +0200] "OPTIONS * HTTP/1.1" 200 0 "-" "-"',
    '198.51.100.99 - - [10/Oct/2026:14:06:00 +0200] "\\x16\\x03\\x01\\x02" 400 157 "-" "-"',
    f'203.0.113.7 - - [32/Oct/2026:14:07:00 +0200] "GET /products HTTP/1.1" 200 10 "-" "{FIREFOX}"',
]
ROTATED_GZ = [  # access.log.1.gz, -0500 local time, no newline after the last line
    f'203.0.113.7 - - [09/Oct/2026:22:00:00 -0500] "GET /blog/hello HTTP/1.1" 200 5000 "-" "{FIREFOX}"',
    f'203.0.113.7 - - [09/Oct/2026:22:00:05 -0500] "GET /favicon.ico HTTP/1.1" 200 100 "-" "{FIREFOX}"',
]


def visitor(ip: str, agent: str, day: str) -> str:
    digest = hmac.new(DEFAULT_SALT.encode(), f"{ip}|{agent}|{day}".encode(), hashlib.sha256).hexdigest()
    return "srv-" + digest[:32]


def firefox_line(local_time: str, target: str) -> str:
    return f'203.0.113.7 - - [{local_time} +0200] "GET {target} HTTP/1.1" 200 7 "-" "{FIREFOX}"'


def write_logs(folder: Path) -> Path:
    folder.mkdir()
    log = folder / "access.log"
    log.write_text("\n".join(ACCESS_LOG) + "\n")
    with gzip.open(folder / "access.log.1.gz", "wt") as handle:
        handle.write("\n".join(ROTATED_GZ))
    (folder / "error.log").write_text("2026/10/10 13:55:36 [error] 12#12: upstream timed out\n")
    return log


def run(folder: Path, lake: Path, **options):
    return import_access_logs(folder, lake, lake.parent / "state" / "access_logs.json", SITE, now_ms=NOW_MS,
                              **options)


def landed(lake: Path, zone: str = "landing") -> list[dict]:
    files = sealed_files(lake / zone)
    return [json.loads(line) for path in files for line in path.read_text().splitlines()]


@pytest.fixture
def logs(tmp_path) -> Path:
    return write_logs(tmp_path / "logs")


def test_first_import_lands_page_events_and_counts_every_skip(logs, tmp_path):
    lake = tmp_path / "lake"
    report = run(logs.parent, lake)

    assert (report.files, report.files_unchanged, report.lines) == (2, 0, 19)
    assert (report.events, report.bots, report.quarantined) == (8, 1, 2)
    assert report.skipped_by_reason == {"error_status": 2, "health_check": 1, "method": 2, "redirect": 1,
                                        "static_asset": 3}
    assert [p.relative_to(lake).parent.as_posix() for p in report.landed_files] == [
        "landing/received_date=2026-10-12/hour=08"]
    assert not list(lake.rglob("*.open"))

    events = landed(lake)
    assert events[0] == {
        "type": "page",
        "anonymousId": visitor("203.0.113.7", FIREFOX, "2026-10-10"),
        "messageId": events[0]["messageId"],
        "timestamp": "2026-10-10T11:55:36.000Z",
        "properties": {"path": "/products/shoes", "url": "https://shop.example.com/products/shoes?color=red",
                       "search": "?color=red", "referrer": "https://www.google.com/", "status": 200,
                       "bytes": 2326, "method": "GET"},
        "context": {"ip": "203.0.113.7", "userAgent": FIREFOX,
                    "page": {"path": "/products/shoes", "url": "https://shop.example.com/products/shoes?color=red",
                             "search": "?color=red", "referrer": "https://www.google.com/"},
                    "library": {"name": "analytics-stack-access-logs", "version": "1"}},
        "integrations": {},
        "receivedAt": RECEIVED_AT,
        "sourceId": "access_logs",
    }
    summary = [(e["properties"]["path"], e["properties"]["search"], e["timestamp"], e["context"]["ip"],
                e["context"]["userAgent"], e["properties"]["method"], e["properties"]["status"],
                e["properties"]["bytes"], e["context"].get("bot", False)) for e in events]
    assert summary == [
        ("/products/shoes", "?color=red", "2026-10-10T11:55:36.000Z", "203.0.113.7", FIREFOX, "GET", 200,
         2326, False),
        ("/products/boots", "", "2026-10-10T12:00:00.000Z", "66.249.66.1", GOOGLEBOT, "GET", 200, 3100, True),
        ("/", "", "2026-10-10T21:59:59.000Z", "2001:db8::42", IPHONE, "GET", 200, 900, False),
        ("/search", "?q=%22red+shoes%22", "2026-10-10T12:01:00.000Z", "192.0.2.10",
         'Mozilla/5.0 (compatible; "Quoted" Agent/1.0)', "GET", 200, 1200, False),
        ("/products/shoes", "", "2026-10-10T23:30:00.000Z", "203.0.113.7", FIREFOX, "GET", 200, 2326, False),
        ("/products/shoes", "", "2026-10-11T00:30:00.000Z", "203.0.113.7", FIREFOX, "HEAD", 304, 0, False),
        ("/account", "", "2026-10-10T12:02:00.000Z", "203.0.113.9", "", "GET", 200, 0, False),
        ("/blog/hello", "", "2026-10-10T03:00:00.000Z", "203.0.113.7", FIREFOX, "GET", 200, 5000, False),
    ]
    ids = [e["anonymousId"] for e in events]
    # same ip + agent + UTC day: one visitor, though line 12 is on the next local day; next UTC day differs
    assert ids[0] == ids[4] == ids[7] == visitor("203.0.113.7", FIREFOX, "2026-10-10")
    assert ids[5] == visitor("203.0.113.7", FIREFOX, "2026-10-11") != ids[0]
    assert ids[2] == visitor("2001:db8::42", IPHONE, "2026-10-10")
    assert all("203" not in i and "2001" not in i for i in ids)
    assert len(set(ids)) == 6
    assert len({e["messageId"] for e in events}) == 8
    assert all(e["messageId"].startswith("acl-") and len(e["messageId"]) == 36 for e in events)
    assert events[3]["properties"]["referrer"] == "https://shop.example.com/"

    quarantined = landed(lake, "quarantine/access_logs")
    assert quarantined == [
        {"reason": "unparseable_line", "message": "not in the combined or common log format",
         "source_file": str(logs.resolve()), "line_number": 8, "line": "this is not an access log line",
         "receivedAt": RECEIVED_AT, "sourceId": "access_logs"},
        {"reason": "unparseable_line",
         "message": "time '32/Oct/2026:14:07:00 +0200' is not a valid date and time",
         "source_file": str(logs.resolve()), "line_number": 17, "line": ACCESS_LOG[16],
         "receivedAt": RECEIVED_AT, "sourceId": "access_logs"},
    ]
    assert [p.relative_to(lake).parent.as_posix() for p in report.quarantine_files] == [
        "quarantine/access_logs/received_date=2026-10-12/hour=08"]


def test_rerun_imports_nothing_and_appended_lines_only_once(logs, tmp_path):
    lake = tmp_path / "lake"
    first = run(logs.parent, lake)
    landed_ids = {e["messageId"] for e in landed(lake)}

    again = run(logs.parent, lake)
    assert (again.files, again.files_unchanged, again.lines, again.events) == (0, 2, 0, 0)
    assert again.landed_files == again.quarantine_files == []

    being_written = firefox_line("12/Oct/2026:09:00:02", "/thanks")
    with open(logs, "a") as handle:
        handle.write(firefox_line("12/Oct/2026:09:00:00", "/checkout") + "\n"
                     + firefox_line("12/Oct/2026:09:00:01", "/assets/checkout.js") + "\n"
                     + being_written[:60])
    grown = run(logs.parent, lake)
    assert (grown.files, grown.files_unchanged, grown.lines, grown.events) == (1, 1, 2, 1)
    assert grown.skipped_by_reason == {"static_asset": 1}
    new = [e for e in landed(lake) if e["messageId"] not in landed_ids]
    assert [(e["properties"]["path"], e["timestamp"]) for e in new] == [
        ("/checkout", "2026-10-12T07:00:00.000Z")]

    with open(logs, "a") as handle:  # the server finishes the line
        handle.write(being_written[60:] + "\n")
    completed = run(logs.parent, lake)
    assert (completed.lines, completed.events) == (1, 1)
    assert sorted(e["properties"]["path"] for e in landed(lake) if e["messageId"] not in landed_ids) == [
        "/checkout", "/thanks"]
    assert len(landed(lake)) == first.events + 2
    state = json.loads((tmp_path / "state" / "access_logs.json").read_text())["files"]
    assert state[str(logs.resolve())]["lines"] == len(ACCESS_LOG) + 3
    assert state[str(logs.resolve())]["offset"] == logs.stat().st_size


def test_message_ids_are_stable_across_a_fresh_import(logs, tmp_path):
    run(logs.parent, tmp_path / "lake")
    other = tmp_path / "other"
    again = import_access_logs(logs.parent, other / "lake", other / "state.json", SITE,
                               now_ms=NOW_MS)
    assert again.events == 8
    assert landed(other / "lake") == landed(tmp_path / "lake")


def test_rotated_files_resume_where_the_import_stopped(tmp_path):
    folder, lake = tmp_path / "logs", tmp_path / "lake"
    folder.mkdir()
    log = folder / "access.log"
    log.write_text("\n".join(ACCESS_LOG[:2]) + "\n")
    assert run(folder, lake).events == 1
    ids_before = {e["messageId"] for e in landed(lake)}

    with open(log, "a") as handle:  # one more request, then logrotate renames and compresses
        handle.write(ACCESS_LOG[6] + "\n")
    with gzip.open(folder / "access.log.1.gz", "wb") as handle:
        handle.write(log.read_bytes())
    log.unlink()
    log.write_text(ACCESS_LOG[8] + "\n")

    rotated = run(folder, lake)
    assert (rotated.files, rotated.lines, rotated.events) == (2, 2, 2)
    assert [e["properties"]["path"] for e in landed(lake) if e["messageId"] not in ids_before] == [
        "/", "/products/boots"]
    state = json.loads((tmp_path / "state" / "access_logs.json").read_text())["files"]
    assert sorted(Path(name).name for name in state) == ["access.log", "access.log.1.gz"]

    # a fresh import of the rotated file gives the ids the first import gave its lines
    fresh = import_access_logs(folder, tmp_path / "fresh", tmp_path / "fresh-state.json", SITE, now_ms=NOW_MS,
                               pattern="*.gz")
    assert fresh.events == 2
    assert ids_before < {e["messageId"] for e in landed(lake)}
    assert {e["messageId"] for e in landed(tmp_path / "fresh")} <= {e["messageId"] for e in landed(lake)}


def test_parse_line_formats_and_errors():
    # the example of the Apache documentation
    common = parse_line('127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" '
                        '200 2326')
    assert (common.ip, common.time_ms, common.target, common.referrer, common.agent) == (
        "127.0.0.1", 971_211_336_000, "/apache_pb.gif", "", "")
    extended = parse_line('::1 - - [01/Jan/2026:00:00:00 +0000] "GET /a HTTP/1.1" 200 5 "-" "ua" 0.003 "-"')
    assert (extended.ip, extended.target, extended.agent, extended.time_ms) == (
        "::1", "/a", "ua", 1_767_225_600_000)
    nginx_escaped = parse_line(r'1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET /x HTTP/1.1" 200 5 "-" '
                               r'"a\x22b"')
    assert nginx_escaped.agent == 'a"b'
    with pytest.raises(UnparseableLine, match="dd/Mon/yyyy"):
        parse_line('1.2.3.4 - - [2026-01-01T00:00:00Z] "GET / HTTP/1.1" 200 5 "-" "ua"')
    with pytest.raises(UnparseableLine, match="METHOD TARGET PROTOCOL"):
        parse_line('1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "-" 200 0 "-" "-"')


def test_bad_inputs_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="--from DIR"):
        import_access_logs(tmp_path / "nowhere", tmp_path / "lake", tmp_path / "state.json", SITE)
    with pytest.raises(ValueError, match="--site-url"):
        import_access_logs(tmp_path, tmp_path / "lake", tmp_path / "state.json", "shop.example.com")


def test_command_line_uses_the_settings(logs, tmp_path):
    data_dir = tmp_path / "data"
    result = subprocess.run(
        [sys.executable, "-m", "collector.access_logs", "--from", str(logs.parent), "--site-url", SITE],
        capture_output=True, text=True, check=True, cwd=Path(__file__).resolve().parents[2],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")},
             "ANALYTICS_DATA_DIR": str(data_dir)})
    assert "events      8 page events (1 flagged as bots)" in result.stdout
    assert "quarantined 2 unparseable lines" in result.stdout
    assert "public default salt" in result.stderr
    assert (data_dir / "state" / "access_logs.json").exists()
    assert len(landed(data_dir / "lake")) == 8


def test_quarantine_left_open_by_a_killed_import_is_sealed_by_the_next(logs, tmp_path):
    lake = tmp_path / "lake"
    torn = lake / "quarantine/access_logs/received_date=2026-10-11/hour=23/part-x.ndjson.open"
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b'{"reason":"unparseable_line"}\n{"reas')
    run(logs.parent, lake)
    assert not list(lake.rglob("*.open"))
    assert torn.with_suffix("").read_bytes() == b'{"reason":"unparseable_line"}\n'
