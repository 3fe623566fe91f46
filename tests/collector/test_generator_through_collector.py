"""The generator's HTTP and SDK sinks against a real collector: what lands is exactly what was generated."""

from __future__ import annotations

import json
from datetime import date

import pytest

from collector.generator import GeneratorConfig, generate
from collector.generator.sinks import HttpSink, LandingSink, SdkSink

CONFIG = GeneratorConfig(start=date(2026, 11, 20), users=40, days=2, seed=5)


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> dict:
    """The same run written straight to landing files: the messageIds and counts every sink must deliver."""
    root = tmp_path_factory.mktemp("direct")
    generate(CONFIG, LandingSink(root / "lake", "web", writer_id="direct"), root / "truth")
    lines = [json.loads(line) for path in (root / "lake" / "landing").rglob("*.ndjson")
             for line in path.read_text().splitlines()]
    return {"message_ids": sorted(e["messageId"] for e in lines),
            "counts": json.loads((root / "truth" / "counts.json").read_text())}


@pytest.mark.parametrize("sink_class", [HttpSink, SdkSink], ids=["http", "sdk"])
def test_sink_delivers_every_event_once_per_send(collector_server, tmp_path, expected, sink_class):
    server = collector_server()
    summary = generate(CONFIG, sink_class(server.url, "wk_test"), tmp_path / "truth")
    server.stop()
    counts = expected["counts"]
    assert summary.sink.failed_requests == 0
    assert summary.sink.rejected == counts["malformed"]
    landed = server.landed_events()
    assert sorted(e["messageId"] for e in landed) == expected["message_ids"]  # retries included, as sent
    assert len(landed) == counts["events"] + counts["duplicates"]
    quarantined = server.landed_events("quarantine")
    reasons: dict[str, int] = {}
    for record in quarantined:
        reasons[record["reason"]] = reasons.get(record["reason"], 0) + 1
    assert reasons == counts["malformed_by_reason"]
