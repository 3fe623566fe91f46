"""The traffic generator: deterministic, and its ground truth agrees with what it wrote."""

from __future__ import annotations

import itertools
import json
import threading
from collections import Counter, defaultdict
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from collector.generator import GeneratorConfig, generate
from collector.generator.__main__ import main
from collector.generator.model import FUNNEL_STEPS, SESSION_GAP_MS, Chunk, TrafficModel
from collector.generator.sinks import HttpSink, LandingSink
from collector.landing import partition_key, sealed_files
from collector.protocol import EVENT_TYPES, check_event

CONFIG = GeneratorConfig(start=date(2024, 3, 4), users=300, days=10, seed=11)


def _generate(root: Path, config: GeneratorConfig = CONFIG) -> Path:
    generate(config, LandingSink(root / "lake", "generator", writer_id="test"), root / "truth")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _generate(tmp_path_factory.mktemp("run"))


def _lines(zone: Path) -> list[tuple[Path, dict]]:
    return [(path, orjson.loads(line)) for path in sealed_files(zone) for line in path.read_bytes().splitlines()]


def _counts(run: Path) -> dict:
    return json.loads((run / "truth" / "counts.json").read_text())


def _partition_contents(zone: Path) -> dict[str, list[bytes]]:
    contents: dict[str, list[bytes]] = defaultdict(list)
    for path in sealed_files(zone):
        contents[str(path.parent.relative_to(zone))].append(path.read_bytes())
    return dict(contents)


def test_same_seed_gives_identical_lake_files_and_truth(run: Path, tmp_path: Path) -> None:
    again = _generate(tmp_path)
    for zone in ("landing", "quarantine/collector"):
        assert _partition_contents(again / "lake" / zone) == _partition_contents(run / "lake" / zone)
    names = sorted(p.name for p in (run / "truth").iterdir())
    assert names == ["anomalies.json", "counts.json", "funnel.json", "orders.parquet", "run.json",
                     "sessions.parquet", "users.parquet"]
    for name in names:
        assert (again / "truth" / name).read_bytes() == (run / "truth" / name).read_bytes(), name


def test_another_seed_gives_other_traffic(run: Path, tmp_path: Path) -> None:
    other = _generate(tmp_path, GeneratorConfig(start=CONFIG.start, users=300, days=10, seed=12))
    assert (other / "truth" / "counts.json").read_bytes() != (run / "truth" / "counts.json").read_bytes()


def test_landing_and_quarantine_hold_exactly_what_the_truth_counts(run: Path) -> None:
    counts = _counts(run)
    landing = [event for _, event in _lines(run / "lake" / "landing")]
    unique = {event["messageId"]: event for event in landing}
    assert len(landing) == counts["landing_lines"] == counts["events"] + counts["duplicates"]
    assert len(unique) == counts["events"]
    assert counts["duplicates"] > 0 and counts["late"] > 0 and counts["skewed"] > 0 and counts["bot_events"] > 0
    assert dict(Counter(e["type"] for e in unique.values())) == counts["by_type"]
    assert dict(Counter(e["event"] for e in unique.values() if e["type"] == "track")) == counts["by_track_event"]

    quarantined = [line for _, line in _lines(run / "lake" / "quarantine" / "collector")]
    assert len(quarantined) == counts["malformed"] == counts["quarantine_lines"] > 0
    assert dict(Counter(q["reason"] for q in quarantined)) == counts["malformed_by_reason"]
    assert set(counts["malformed_by_reason"]) == {"missing_identity", "missing_event", "unknown_type"}
    for line in quarantined:
        assert set(line) == {"reason", "message", "receivedAt", "sourceId", "event"}
        assert check_event(line["event"]) == (line["reason"], line["message"])
    # Malformed payloads are about 0.5% of all, duplicates about 1%.
    assert 0.002 < counts["malformed"] / counts["events"] < 0.008
    assert 0.005 < counts["duplicates"] / counts["events"] < 0.015


def test_every_landing_line_is_a_stored_event_in_its_arrival_partition(run: Path) -> None:
    zone = run / "lake" / "landing"
    sizes = []
    for path, event in _lines(zone):
        assert event["type"] in EVENT_TYPES
        assert check_event(event) is None
        assert event["messageId"] and event["sourceId"] == "generator"
        received_ms = int(np.datetime64(event["receivedAt"].rstrip("Z"), "ms").astype(np.int64))
        assert str(path.parent.relative_to(zone)) == partition_key(received_ms)
        assert event["sentAt"] and event["timestamp"] == event["originalTimestamp"]
        sizes.append(len(orjson.dumps(event)))
    assert 700 < sum(sizes) / len(sizes) < 1400  # about 1 KB per event, like real traffic


def test_funnel_never_grows_and_matches_the_step_events(run: Path) -> None:
    steps = json.loads((run / "truth" / "funnel.json").read_text())["steps"]
    assert [s["event"] for s in steps] == list(FUNNEL_STEPS)
    users = [s["users"] for s in steps]
    assert users == sorted(users, reverse=True) and users[-1] > 0
    landing = {e["messageId"]: e for _, e in _lines(run / "lake" / "landing")}.values()
    reached = {name: {e["userId"] for e in landing if e.get("event") == name} for name in FUNNEL_STEPS}
    assert [len(reached[name]) for name in FUNNEL_STEPS] == users


def test_identify_stitches_the_anonymous_id_to_the_user(run: Path) -> None:
    landing = [e for _, e in _lines(run / "lake" / "landing")]
    identifies = [e for e in landing if e["type"] == "identify"]
    users = pq.read_table(run / "truth" / "users.parquet").to_pylist()
    anonymous_of = {u["user_id"]: u["anonymous_ids"][0] for u in users if u["user_id"]}
    assert identifies and {e["userId"] for e in identifies} == set(anonymous_of)
    for event in identifies:
        assert event["anonymousId"] == anonymous_of[event["userId"]]
        assert {"email", "plan", "name"} <= set(event["traits"])
    assert any(e["type"] == "alias" for e in landing)
    orders = [e for e in landing if e.get("event") == "Order Completed"]
    assert all(e["properties"]["revenue"] > 0 and e["properties"]["currency"] for e in orders)


def test_sessions_of_a_visitor_are_more_than_30_minutes_apart(run: Path) -> None:
    sessions = pq.read_table(run / "truth" / "sessions.parquet").to_pylist()
    assert sum(s["events"] for s in sessions) == _counts(run)["events"]
    by_visitor = defaultdict(list)
    for session in sessions:
        assert session["start"] <= session["end"]
        by_visitor[session["visitor_id"]].append(session)
    for visits in by_visitor.values():
        for before, after in itertools.pairwise(visits):
            assert (after["start"] - before["end"]).total_seconds() * 1000 > SESSION_GAP_MS


def test_churn_label_follows_the_documented_window(run: Path) -> None:
    counts = _counts(run)
    window = counts["churn_label_window_days"]
    assert window == 5
    window_start = CONFIG.start + timedelta(days=CONFIG.days - window)
    users = pq.read_table(run / "truth" / "users.parquet").to_pylist()
    humans = [u for u in users if not u["is_bot"]]
    assert all(0 < u["churn_probability"] < 1 for u in humans)
    for user in humans:
        eligible = user["first_seen_date"] < window_start
        assert user["churned"] == (eligible and user["last_active_date"] < window_start)
        if user["churn_date"] is not None and user["churn_date"] <= window_start:
            assert user["churned"] or not eligible
    assert 0 < sum(u["churned"] for u in humans) < len(humans)


def test_anomalies_are_recorded_and_visible(run: Path) -> None:
    anomalies = json.loads((run / "truth" / "anomalies.json").read_text())["anomalies"]
    assert [(a["date"], a["metric"], a["factor"]) for a in anomalies] == [
        ("2024-03-07", "orders", 3.0), ("2024-03-10", "events", 0.6)]
    per_day = _counts(run)["events_by_date"]
    same_weekday_before = per_day["2024-03-03"] if "2024-03-03" in per_day else per_day["2024-03-09"]
    assert per_day["2024-03-10"] < 0.8 * same_weekday_before


def test_http_sink_posts_batches_and_retries_refusals(tmp_path: Path) -> None:
    received: list[dict] = []
    refusals = iter([503, 429])

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = next(refusals, 200)
            if status == 200:
                received.append(body)
                bad = sum(check_event(e) is not None for e in body["batch"])
                answer = {"success": True, "accepted": len(body["batch"]) - bad, "rejected": bad}
            else:
                answer = {"success": False}
            data = orjson.dumps(answer)
            self.send_response(status)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = GeneratorConfig(start=date(2024, 3, 4), users=40, days=1, seed=3)
        sink = HttpSink(f"http://127.0.0.1:{server.server_port}", "wk_test", concurrency=1, batch_size=50)
        summary = generate(config, sink, tmp_path / "truth")
    finally:
        server.shutdown()
    report = summary.sink
    assert report.accepted == summary.events + summary.duplicates
    assert report.rejected == summary.malformed and report.failed_requests == 0
    events = [e for body in received for e in body["batch"]]
    assert len(events) == report.accepted + report.rejected
    assert all("receivedAt" not in e and e["sentAt"] for e in events)


def test_chunks_tell_sinks_which_arrival_hours_are_complete() -> None:
    chunks: list[Chunk] = list(TrafficModel(GeneratorConfig(start=date(2024, 3, 4), users=50, days=3)).chunks())
    finals = [c.final_before_ms for c in chunks]
    assert finals == sorted(finals)
    for chunk in chunks:
        assert chunk.arrival_ms.min() >= chunk.final_before_ms


def test_command_line_writes_the_lake_and_the_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ANALYTICS_LAKE_URI", raising=False)
    monkeypatch.setenv("ANALYTICS_WRITE_KEYS", "web=wk_web")
    assert main(["--users", "60", "--days", "2", "--start", "2024-01-01", "--seed", "4", "--run-name", "demo"]) == 0
    out = capsys.readouterr().out
    assert "generated" in out and "duplicates" in out and str(tmp_path / "generator" / "demo" / "truth") in out
    counts = json.loads((tmp_path / "generator" / "demo" / "truth" / "counts.json").read_text())
    lines = [e for _, e in _lines(tmp_path / "lake" / "landing")]
    assert len(lines) == counts["landing_lines"] and {e["sourceId"] for e in lines} == {"web"}
