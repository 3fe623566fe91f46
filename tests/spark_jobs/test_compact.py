"""The compaction on hand-written landing lines: exact bronze rows, quarantine, idempotency, crashes."""

from __future__ import annotations

import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from analytics_settings import load_settings
from collector.landing import LandingZone, sealed_files
from lake import LakeReader
from orchestration.lake.assets import event_dates_to_roll_up
from spark_jobs import compact as compaction
from spark_jobs.compact import compact_arrival_day
from spark_jobs.enrich import salted_hash
from spark_jobs.rollup import rollup_days
from tests.conftest import start_lock_holder

R1, R2 = "2026-11-10", "2026-11-11"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/130.0.0.0 Safari/537.36")
GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
SALT = "test-salt"


def event(message_id: str, received_at: str, source: str = "web", **fields) -> dict:
    return {"type": "track", "event": "Button Clicked", "userId": "u1", "messageId": message_id, **fields,
            "receivedAt": received_at, "sourceId": source}


R1_LINES = [
    event("m1", "2026-11-10T10:00:00.000Z", event="order_completed", timestamp="2026-11-10T09:59:00.000Z",
          sentAt="2026-11-10T10:00:00.000Z", properties={"revenue": 42.5, "currency": "EUR", "sku": "x"},
          context={"ip": "81.2.69.142", "userAgent": CHROME, "locale": "en-GB",
                   "page": {"url": "https://www.shop.example.com/p?utm_source=newsletter&utm_medium=email",
                            "path": "/p", "referrer": "https://mail.google.com/"}}),
    event("m1", "2026-11-10T10:00:05.000Z", event="order_completed"),  # the client's retry: dropped
    event("m2", "2026-11-10T10:00:10.000Z", type="page", name="Home", userId=None, anonymousId="a1",
          timestamp="2026-11-10T12:00:00.000Z", sentAt="2026-11-10T12:00:10.000Z",  # device clock 2 h ahead
          context={"page": {"url": "https://shop.example.com/", "referrer": "https://www.google.co.uk/search"}}),
    event("m3", "2026-11-10T11:00:00.000Z", timestamp="2026-11-12T00:00:00.000Z"),  # 37 h ahead: clamped
    event("m4", "2026-11-10T08:00:01.000Z", originalTimestamp="2026-11-08T20:00:00.000Z",  # queued offline
          sentAt="2026-11-10T08:00:00.000Z", context={"userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 "
          "like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"}),
    event("m5", "2026-11-10T12:00:00.000Z", timestamp="yesterday"),
    event("m6", "2026-11-10T12:00:00.000Z", timestamp="2026-09-01T00:00:00.000Z"),  # older than 30 days
    event("m7", "2026-11-10T13:00:00.000Z", type="page", userId=None, anonymousId="bot-1",
          context={"userAgent": GOOGLEBOT, "ip": "66.249.66.1", "page": {"url": "https://shop.example.com/a"}}),
    event("m9", "2026-11-10T14:00:00.000Z", source="crm", type="identify", userId="u9",
          traits={"email": "ada@example.com", "plan": "pro"}, context={"ip": "2001:4860:4860::8888"}),
]
R2_LINES = [
    event("m1", "2026-11-11T09:00:00.000Z", event="order_completed"),  # a retry a day later: dropped
    event("m8", "2026-11-11T09:30:00.000Z", event="Signed Up", timestamp="2026-11-11T09:29:59.000Z",
          context={"ip": "10.1.2.3"}),
]


def land(lake: Path, received_date: str, events: list[dict], extra_lines: list[bytes] = ()) -> None:
    zone = LandingZone(lake / "landing")
    lines = [json.dumps(e, separators=(",", ":")).encode() for e in events] + list(extra_lines)
    zone.append(f"received_date={received_date}/hour=10", b"\n".join(lines) + b"\n")
    zone.seal_all()


@pytest.fixture
def settings(tmp_path):
    land(tmp_path / "lake", R1, R1_LINES, [b"{not json"])
    land(tmp_path / "lake", R2, R2_LINES)
    return load_settings(data_dir=tmp_path, pii_salt=SALT,
                         pii_policy={"crm": {"ip": "drop", "hash_identifiers": True}})


def bronze_rows(lake: Path) -> dict[str, dict]:
    query = f"select * from read_parquet('{lake}/bronze/events/**/*.parquet', hive_partitioning=true)"
    frame = duckdb.sql(query).fetchall()
    columns = [c[0] for c in duckdb.sql(query).description]
    rows = [dict(zip(columns, values)) for values in frame]
    return {row["message_id"]: row for row in rows}


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z"))


def test_first_arrival_day(spark, settings, tmp_path):
    report = compact_arrival_day(spark, R1, settings)
    assert (report.rows_in, report.rows_out, report.duplicates_within_day) == (10, 6, 1)
    assert report.quarantined == {"unparseable_line": 1, "unparseable_timestamp": 1, "too_late": 1}
    assert (report.late_events, report.clamped_events, report.offline_queued_events, report.bot_events) == (1, 1, 1, 1)
    assert report.event_dates == ["2026-11-08", "2026-11-10"]

    rows = bronze_rows(tmp_path / "lake")
    assert sorted(rows) == ["m1", "m2", "m3", "m4", "m7", "m9"]
    m1 = rows["m1"]
    assert m1["received_at"] == utc("2026-11-10T10:00:00Z")  # the earliest copy is kept
    assert m1["event_time"] == utc("2026-11-10T09:59:00Z")
    assert (m1["event_name"], m1["event_original"], m1["revenue"], m1["currency"]) == (
        "Order Completed", "order_completed", 42.5, "EUR")
    assert json.loads(m1["properties"]) == {"revenue": 42.5, "currency": "EUR", "sku": "x"}
    assert (m1["ip"], m1["country"], m1["locale"]) == ("81.2.69.0", "GB", "en-GB")
    assert (m1["browser"], m1["os"], m1["device_type"], m1["is_bot"]) == ("Chrome", "Windows", "desktop", False)
    assert (m1["page_host"], m1["page_path"], m1["referrer_host"], m1["referrer_class"]) == (
        "shop.example.com", "/p", "mail.google.com", "email")
    assert (m1["utm_source"], m1["utm_medium"], m1["utm_campaign"]) == ("newsletter", "email", None)
    assert str(m1["event_date"]) == "2026-11-10" and str(m1["received_date"]) == R1

    m2 = rows["m2"]  # receivedAt − (sentAt − timestamp) = 10:00:10 − 10 s
    assert m2["event_time"] == utc("2026-11-10T10:00:00Z") and m2["device_time"] == utc("2026-11-10T12:00:00Z")
    assert m2["clock_skew_ms"] == 2 * 3600 * 1000 and not m2["is_clamped"]
    assert (m2["referrer_class"], m2["anonymous_id"], m2["user_id"], m2["page_name"]) == ("search", "a1", None, "Home")

    m3 = rows["m3"]
    assert m3["is_clamped"] and m3["event_time"] == utc("2026-11-10T11:00:00Z")
    assert m3["device_time"] == utc("2026-11-12T00:00:00Z")  # the original is kept

    m4 = rows["m4"]
    assert m4["event_time"] == utc("2026-11-08T20:00:01Z") and str(m4["event_date"]) == "2026-11-08"
    assert m4["is_late"] and m4["is_offline_queued"]
    assert (m4["os"], m4["device_type"]) == ("iOS", "mobile")

    assert (rows["m7"]["is_bot"], rows["m7"]["device_type"], rows["m7"]["country"]) == (True, "bot", "US")

    m9 = rows["m9"]  # the crm source's policy: no IP, identifiers hashed with the salt
    assert (m9["ip"], m9["country"]) == (None, "US")
    assert m9["user_id"] == salted_hash("u9", SALT) != "u9"
    assert json.loads(m9["traits"]) == {"email": salted_hash("ada@example.com", SALT), "plan": "pro"}

    quarantine = [json.loads(line) for path in sorted((tmp_path / "lake/quarantine/lake").rglob("*.json"))
                  for line in path.read_text().splitlines()]
    assert sorted((q["reason"], json.loads(q["line"])["messageId"] if q["line"].startswith('{"') else q["line"])
                  for q in quarantine) == [("too_late", "m6"), ("unparseable_line", "{not json"),
                                           ("unparseable_timestamp", "m5")]


def test_second_day_dedups_against_the_first(spark, settings, tmp_path):
    compact_arrival_day(spark, R1, settings)
    report = compact_arrival_day(spark, R2, settings)
    assert (report.rows_in, report.duplicates_across_days, report.rows_out) == (2, 1, 1)
    rows = bronze_rows(tmp_path / "lake")
    assert str(rows["m8"]["received_date"]) == R2 and rows["m8"]["ip"] == "10.1.2.0"
    assert rows["m8"]["country"] is None  # a private address has no country
    assert str(rows["m1"]["received_date"]) == R1


def files_of(lake: Path) -> dict[str, bytes]:
    root = lake / "bronze"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_rerun_gives_identical_rows_and_files(spark, settings, tmp_path):
    compact_arrival_day(spark, R1, settings)
    first = files_of(tmp_path / "lake")
    compact_arrival_day(spark, R1, settings)
    assert files_of(tmp_path / "lake") == first
    assert all(name.endswith(".snappy.parquet") and "/part-0000" in name for name in first)


def test_crash_before_commit_leaves_previous_partition(spark, settings, tmp_path, monkeypatch):
    compact_arrival_day(spark, R1, settings)
    before = files_of(tmp_path / "lake")
    land(tmp_path / "lake", R1, [event("m10", "2026-11-10T15:00:00.000Z")])  # new data for the day

    def crash(*args, **kwargs):
        raise RuntimeError("killed between the write and the commit")

    monkeypatch.setattr(compaction, "_replace_arrival_day", crash)
    with pytest.raises(RuntimeError):
        compact_arrival_day(spark, R1, settings)
    assert files_of(tmp_path / "lake") == before
    monkeypatch.undo()
    report = compact_arrival_day(spark, R1, settings)  # the re-run cleans up and commits
    assert report.rows_out == 7 and "m10" in bronze_rows(tmp_path / "lake")
    assert not list((tmp_path / "lake" / "_staging").iterdir())


def test_crash_mid_rename_is_repaired(spark, settings, tmp_path):
    compact_arrival_day(spark, R1, settings)
    partition = tmp_path / "lake/bronze/events/event_date=2026-11-10/received_date=2026-11-10"
    partition.rename(partition.with_name("received_date=2026-11-10.replaced-deadbeef"))  # moved aside, then crash
    compact_arrival_day(spark, R1, settings)
    assert sorted(p.name for p in partition.parent.iterdir()) == ["received_date=2026-11-10"]
    assert len(bronze_rows(tmp_path / "lake")) == 6


def test_empty_arrival_day_removes_its_folders(spark, settings, tmp_path):
    compact_arrival_day(spark, R2, settings)
    for landed in (tmp_path / "lake/landing/received_date=2026-11-11").rglob("*.ndjson"):
        landed.unlink()
    report = compact_arrival_day(spark, R2, settings)
    assert report.rows_out == 0 and not list((tmp_path / "lake/bronze").rglob("received_date=2026-11-11"))


def test_bad_received_date_is_a_clear_error(spark, settings):
    with pytest.raises(ValueError):
        compact_arrival_day(spark, "2026-13-01", settings)
    assert date.fromisoformat(R1)


def test_replay_after_a_fix_moves_lines_from_quarantine_to_bronze(spark, settings, tmp_path):
    from spark_jobs.replay_quarantine import replay

    compact_arrival_day(spark, R1, settings)
    assert "m6" not in bronze_rows(tmp_path / "lake")
    fixed = settings.model_copy(update={"max_lateness_days": 120})  # the fix: accept older events
    report = replay(spark, fixed)
    assert report.received_dates == [R1]
    assert (report.quarantined_before, report.quarantined_after, report.recovered) == ({R1: 3}, {R1: 2}, {R1: 1})
    assert str(bronze_rows(tmp_path / "lake")["m6"]["event_date"]) == "2026-09-01"
    assert replay(spark, fixed).recovered == {R1: 0}  # idempotent


def test_rollup_of_an_event_day(spark, settings, tmp_path):
    from spark_jobs.rollup import rollup_days

    compact_arrival_day(spark, R1, settings)
    report = rollup_days(spark, ["2026-11-10"], settings)
    assert (report.rows, report.events) == ({"2026-11-10": 5}, {"2026-11-10": 5})
    rows = duckdb.sql(f"select event_name, country, device_type, events, unique_users, revenue from read_parquet("
                      f"'{tmp_path}/lake/gold/daily_event_rollup/event_date=2026-11-10/*.parquet') order by all"
                      ).fetchall()
    assert rows == [("Button Clicked", "unknown", "other", 1, 1, 0.0), ("Order Completed", "GB", "desktop", 1, 1, 42.5),
                    ("identify", "US", "other", 1, 1, 0.0), ("page", "US", "bot", 1, 1, 0.0),
                    ("page", "unknown", "other", 1, 1, 0.0)]
    assert rollup_days(spark, ["2026-11-10"], settings).rows == report.rows  # idempotent


# A range of arrival days, compacted in one pass, day by day, and out of order. Dedup window of 2 days; D0 is
# compacted before the range. A day's copy is dropped when a day in the 2 days before it received the id
# (kept there or not). Expected (hand-computed):
#   a: D0, D1          → kept on D0 (D1's copy: D0 received it)
#   b: D1, D2          → kept on D1
#   c: D1, D3, D4      → kept on D1 (D3 is 2 days after D1: dropped; D4 is 1 day after D3, which received it:
#                        dropped, though D3 dropped its copy)
#   d: D1 twice, D2    → D1's earlier copy kept, its later copy and D2's dropped
#   e: D0, D4          → kept on both (4 days apart)
#   g: arrives on D3 with an event time on D1 (late)
D0, D1, D2, D3, D4 = "2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12", "2026-11-13"
RANGE = [D1, D2, D3, D4]
RANGE_LINES = {
    D0: [event("a", f"{D0}T10:00:00.000Z"), event("e", f"{D0}T11:00:00.000Z")],
    D1: [event("a", f"{D1}T10:00:00.000Z"), event("b", f"{D1}T10:01:00.000Z"), event("c", f"{D1}T10:02:00.000Z"),
         event("d", f"{D1}T10:04:00.000Z", properties={"copy": 2}),
         event("d", f"{D1}T10:03:00.000Z", properties={"copy": 1}), event("f1", f"{D1}T10:05:00.000Z")],
    D2: [event("b", f"{D2}T10:00:00.000Z"), event("d", f"{D2}T10:01:00.000Z"), event("f2", f"{D2}T10:02:00.000Z")],
    D3: [event("c", f"{D3}T10:00:00.000Z"), event("g", f"{D3}T10:00:00.000Z", timestamp=f"{D1}T09:00:00.000Z")],
    D4: [event("c", f"{D4}T10:00:00.000Z"), event("e", f"{D4}T10:01:00.000Z"), event("f4", f"{D4}T10:02:00.000Z")],
}
RANGE_BRONZE = {("a", D0, D0), ("e", D0, D0), ("b", D1, D1), ("c", D1, D1), ("d", D1, D1), ("f1", D1, D1),
                ("f2", D2, D2), ("g", D3, D1), ("e", D4, D4), ("f4", D4, D4)}
# (rows_in, duplicates_within_day, duplicates_across_days, rows_out, late_events, quarantined, event_dates)
RANGE_REPORTS = {
    D1: (6, 1, 1, 4, 0, {}, [D1]),
    D2: (4, 0, 2, 1, 0, {"unparseable_line": 1}, [D2]),
    D3: (2, 0, 1, 1, 1, {}, [D1]),
    D4: (3, 0, 1, 2, 0, {}, [D4]),
}


def range_settings(data_dir: Path):
    for day, lines in RANGE_LINES.items():
        land(data_dir / "lake", day, lines, [b"{bad"] if day == D2 else [])
    return load_settings(data_dir=data_dir, pii_salt=SALT, dedup_window_days=2)


def bronze_table(lake: Path) -> list[tuple]:
    """Every bronze row with its folder's days, sorted."""
    return duckdb.sql(f"select * from read_parquet('{lake}/bronze/events/**/*.parquet', hive_partitioning=true) "
                      "order by all").fetchall()


def quarantine_lines(lake: Path) -> list[tuple]:
    """(folder, reason, received_date, the landing folder of its file, line) of every quarantined line."""
    return sorted((path.parent.name, q["reason"], q["received_date"], q["source_file"].split("/")[-3], q["line"])
                  for path in (lake / "quarantine/lake").rglob("*.json")
                  for q in map(json.loads, path.read_text().splitlines()))


def report_of_rows(report: compaction.CompactionReport) -> dict:
    """The report without what depends on how the rows are cut into files (bytes) or on the run (seconds)."""
    fields = dict(vars(report), bronze_paths=[p.split("/bronze/")[1] for p in report.bronze_paths],
                  quarantine_path=report.quarantine_path and report.quarantine_path.split("/quarantine/")[1])
    return {name: value for name, value in fields.items()
            if name not in {"bytes_written", "seconds", "spark_startup_seconds"}}


def test_a_range_in_one_pass_equals_its_days_one_by_one(spark, tmp_path):
    in_one, by_day = range_settings(tmp_path / "one"), range_settings(tmp_path / "by-day")
    for settings in (in_one, by_day):
        compact_arrival_day(spark, D0, settings)
    one_pass = compaction.compact_arrival_days(spark, list(reversed(RANGE)), in_one)  # any order: date order
    day_by_day = [compact_arrival_day(spark, day, by_day) for day in RANGE]

    assert [report.received_date for report in one_pass] == RANGE
    assert {r.received_date: (r.rows_in, r.duplicates_within_day, r.duplicates_across_days, r.rows_out,
                              r.late_events, r.quarantined, r.event_dates) for r in one_pass} == RANGE_REPORTS
    assert all(r.landing_files == 1 and r.bytes_written > 0 for r in one_pass)
    assert [report_of_rows(r) for r in one_pass] == [report_of_rows(r) for r in day_by_day]
    combined = compaction.CompactionReport.combine(one_pass)
    assert (combined.received_date, combined.rows_in, combined.rows_out, combined.event_dates) == (
        f"{D1}..{D4}", 15, 8, [D1, D2, D4])
    assert report_of_rows(combined) == report_of_rows(compaction.CompactionReport.combine(day_by_day))

    rows = {(row["message_id"], str(row["received_date"]), str(row["event_date"])): row
            for row in bronze_rows_with_days(tmp_path / "one/lake")}
    assert set(rows) == RANGE_BRONZE
    assert json.loads(rows["d", D1, D1]["properties"]) == {"copy": 1}  # the day's earliest copy
    assert rows["g", D3, D1]["is_late"] and rows["g", D3, D1]["event_time"] == utc(f"{D1}T09:00:00Z")
    assert bronze_table(tmp_path / "one/lake") == bronze_table(tmp_path / "by-day/lake")
    assert quarantine_lines(tmp_path / "one/lake") == quarantine_lines(tmp_path / "by-day/lake") == [
        (f"received_date={D2}", "unparseable_line", D2, f"received_date={D2}", "{bad")]
    assert not list((tmp_path / "one/lake/_staging").iterdir())

    # idempotent: the range again gives the same files, and any of its days alone the same rows
    files = files_of(tmp_path / "one/lake")
    compaction.compact_arrival_days(spark, RANGE, in_one)
    assert files_of(tmp_path / "one/lake") == files
    assert compact_arrival_day(spark, D4, in_one).rows_out == 2
    assert bronze_table(tmp_path / "one/lake") == bronze_table(tmp_path / "by-day/lake")


def bronze_rows_with_days(lake: Path) -> list[dict]:
    relation = duckdb.sql(f"select * from read_parquet('{lake}/bronze/events/**/*.parquet', hive_partitioning=true)")
    columns = [c[0] for c in relation.description]
    return [dict(zip(columns, values)) for values in relation.fetchall()]


def test_rollup_of_several_days_in_one_pass(spark, tmp_path):
    from spark_jobs.rollup import rollup_days

    settings = range_settings(tmp_path)
    compaction.compact_arrival_days(spark, [D0, *RANGE], settings)
    gold = tmp_path / "lake/gold/daily_event_rollup"
    (gold / f"event_date={D3}").mkdir(parents=True)  # a stale rollup: no event happened on D3 any more
    report = rollup_days(spark, [D4, D3, D1, D2], settings)
    assert report.event_dates == [D1, D2, D3, D4]
    assert (report.rows, report.events) == ({D1: 1, D2: 1, D3: 0, D4: 1}, {D1: 5, D2: 1, D3: 0, D4: 2})
    assert sorted(path.name for path in gold.iterdir()) == [f"event_date={D1}", f"event_date={D2}", f"event_date={D4}"]
    rows = duckdb.sql(f"select event_date, event_name, country, device_type, events, unique_users, revenue from "
                      f"read_parquet('{gold}/*/*.parquet', hive_partitioning=true) order by all").fetchall()
    assert [(str(day), *rest) for day, *rest in rows] == [
        (D1, "Button Clicked", "unknown", "other", 5, 1, 0.0), (D2, "Button Clicked", "unknown", "other", 1, 1, 0.0),
        (D4, "Button Clicked", "unknown", "other", 2, 1, 0.0)]
    assert [path.name for path in (gold / f"event_date={D1}").iterdir()] == ["part-00000.snappy.parquet"]
    assert rollup_days(spark, [D1, D2, D3, D4], settings).rows == report.rows  # idempotent
    assert not list((tmp_path / "lake/_staging").iterdir())


def test_commit_waits_for_a_build_and_records_the_files_it_read(spark, settings, tmp_path):
    """The commit holds the warehouse lock, so a running build (another process holding it) sees the day's old
    bronze until it ends; a file sealed after the run listed the day, with an old modification time, is not in
    the run's record and stays unprocessed."""
    lake = tmp_path / "lake"
    compact_arrival_day(spark, R1, settings)
    before = files_of(lake)
    land(lake, R1, [event("m10", "2026-11-10T15:00:00.000Z")])
    holder = start_lock_holder(tmp_path, 600)
    try:
        with ThreadPoolExecutor(1) as pool:
            running = pool.submit(compact_arrival_day, spark, R1, settings)
            deadline = time.monotonic() + 300
            while not list(lake.glob("_staging/compact-*/bronze/event_date=*/received_date=*/*.parquet")):  # written
                assert time.monotonic() < deadline and not running.done(), running.done() and running.result()
                time.sleep(0.2)
            land(lake, R1, [event("m11", "2026-11-10T16:00:00.000Z")])
            late = max(sealed_files(lake / "landing", R1), key=lambda path: path.stat().st_mtime)
            os.utime(late, (946684800, 946684800))  # its writer's clock says 2000-01-01
            time.sleep(2)
            assert not running.done() and files_of(lake) == before  # waits for the build to end
            holder.send_signal(signal.SIGKILL)  # the build dies: the kernel frees the lock
            holder.wait()
            report = running.result(timeout=120)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert report.landing_files == 2 and report.rows_out == 7
    assert "m10" in bronze_rows(lake) and "m11" not in bronze_rows(lake)
    record = json.loads((lake / "_state/compaction/received_date=2026-11-10.json").read_text())
    late_name = str(late.relative_to(lake / "landing"))
    assert sorted(record["landing_files"]) == sorted(set(landed_names(lake, R1)) - {late_name})
    reader = LakeReader.open(settings.lake_root)
    assert reader.unprocessed_landing_files() == {R1: [late_name], R2: landed_names(lake, R2)}
    compact_arrival_day(spark, R1, settings)  # the next run reads it
    assert "m11" in bronze_rows(lake) and R1 not in reader.unprocessed_landing_files()


def landed_names(lake: Path, day: str) -> list[str]:
    return [str(path.relative_to(lake / "landing")) for path in sealed_files(lake / "landing", day)]


def gold_table(lake: Path) -> list[tuple]:
    return duckdb.sql(f"select * from read_parquet('{lake}/gold/daily_event_rollup/*/*.parquet', "
                      "hive_partitioning=true) order by all").fetchall()


def test_arrival_days_out_of_order_give_the_bronze_and_gold_of_date_order(spark, tmp_path):
    """Days compacted in reverse (a backfill's queued runs), each followed by the rollup its gold asset runs, give
    the bronze and gold of one pass over every day (the same rows as date order, tested above): the earlier day
    compacted last drops its ids from the later days' bronze and names their event days for the rollup."""
    reverse, one_pass = range_settings(tmp_path / "reverse"), range_settings(tmp_path / "one")
    for day in [*reversed(RANGE), D0]:
        report = compact_arrival_day(spark, day, reverse)
        rollup_days(spark, event_dates_to_roll_up(reverse.lake_root, day), reverse)
    assert report.later_event_dates == [D1]  # D0 dropped a's copy from D1's bronze
    reports = compaction.compact_arrival_days(spark, [D0, *RANGE], one_pass)
    assert all(report.later_event_dates == [] for report in reports)
    rollup_days(spark, [D0, D1, D2, D3, D4], one_pass)

    assert {(row["message_id"], str(row["received_date"]), str(row["event_date"]))
            for row in bronze_rows_with_days(tmp_path / "reverse/lake")} == RANGE_BRONZE
    assert bronze_table(tmp_path / "reverse/lake") == bronze_table(tmp_path / "one/lake")
    assert gold_table(tmp_path / "reverse/lake") == gold_table(tmp_path / "one/lake")
    events = duckdb.sql(f"select event_date::varchar, sum(events) from read_parquet('{tmp_path}/reverse/lake/gold/"
                        "daily_event_rollup/*/*.parquet', hive_partitioning=true) group by all order by all").fetchall()
    assert events == [(D0, 2), (D1, 5), (D2, 1), (D4, 2)]  # every messageId once: a e | b c d f1 g | f2 | e f4
