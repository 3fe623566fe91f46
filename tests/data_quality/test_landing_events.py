"""The landing suite: every expectation passes on the golden dataset and fails on a bad copy of it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from analytics_settings import Settings
from data_quality import validate
from tests.conftest import arrival_days_of
from tests.data_quality.crafting import landing_files, move_arrival_day, rewrite_lines

pytestmark = pytest.mark.slow

DAY = "2024-03-11"
RULES = ["quarantine_share", "required_fields", "type_in_spec", "received_in_partition", "message_id_unique",
         "event_time_window", "volume_band"]


def failed(result) -> set[str]:
    return {e.name for e in result.expectations if not e.success}


def landed_lines(lake: Path, day: str) -> int:
    return sum(len(path.read_text().splitlines()) for path in landing_files(lake, day))


def test_every_arrival_day_of_the_simulated_fortnight_passes(golden: Settings, golden_lake: Path):
    for day in [day for day in arrival_days_of(golden_lake) if day <= "2024-03-17"]:
        result = validate("landing/events", day, golden)
        assert [e.name for e in result.expectations] == RULES
        assert result.success, (day, [e.summary for e in result.expectations if not e.success])
    result = validate("landing/events", DAY, golden)
    assert result.facts["lines_landed"] == landed_lines(golden_lake, DAY) == 1764
    assert result.facts["lines_rejected"] == 5
    # the generator's retries: 9 messageIds sent twice, well under the 5% a retry storm would reach
    assert result["message_id_unique"].unexpected_count == 18
    assert result["quarantine_share"].unexpected_count == 5
    assert {row["quarantine_reason"] for row in result["quarantine_share"].sample} <= {
        "missing_identity", "missing_event", "unknown_type"}


def test_a_high_collector_reject_share_warns(crafted: Settings, lake: Path):
    rejects = min(lake.glob(f"quarantine/collector/received_date={DAY}/hour=*/*.ndjson"))
    line = rejects.read_text().splitlines()[0]
    rejects.write_text((line + "\n") * 120)
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"quarantine_share"}
    assert result.severity == "warning"  # the rejects are quarantined and counted; one client can send many
    rejected = sum(len(p.read_text().splitlines())
                   for p in lake.glob(f"quarantine/collector/received_date={DAY}/hour=*/*.ndjson"))
    assert result["quarantine_share"].unexpected_count == rejected > 0.05 * (1764 + rejected)


def test_a_line_without_identity_or_event_name_blocks(crafted: Settings, lake: Path):
    def strip(events: list[dict]) -> list[dict]:
        events[0] = {k: v for k, v in events[0].items() if k not in ("userId", "anonymousId")}
        track = next(i for i, e in enumerate(events) if e["type"] == "track" and i > 0)
        events[track] = {k: v for k, v in events[track].items() if k != "event"}
        return events

    rewrite_lines(landing_files(lake, DAY)[10], strip)
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"required_fields"}
    assert sorted(row["missing_fields"] for row in result["required_fields"].sample) == [
        "event", "userId or anonymousId"]


def test_a_type_outside_the_spec_blocks(crafted: Settings, lake: Path):
    rewrite_lines(landing_files(lake, DAY)[3], lambda events: [{**events[0], "type": "pageview"}, *events[1:]])
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"type_in_spec"}
    [row] = result["type_in_spec"].sample
    assert row["type"] == "pageview" and row["file"].startswith(f"landing/received_date={DAY}/hour=")


def test_a_line_in_the_wrong_arrival_day_blocks(crafted: Settings, lake: Path):
    yesterday = json.loads(landing_files(lake, "2024-03-10")[0].read_text().splitlines()[0])
    rewrite_lines(landing_files(lake, DAY)[0], lambda events: [*events, yesterday])
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"received_in_partition"}
    [row] = result["received_in_partition"].sample
    assert row["message_id"] == yesterday["messageId"] and row["received_hours"] < 0


def test_many_retried_message_ids_warn(crafted: Settings, lake: Path):
    for path in landing_files(lake, DAY)[8:11]:
        shutil.copyfile(path, path.with_name("replayed-" + path.name))
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"message_id_unique"}
    assert result.severity == "warning"
    retried = result["message_id_unique"]
    assert retried.unexpected_percent > 5
    assert retried.sample[0]["message_id"] == retried.sample[1]["message_id"]


def test_many_events_outside_the_time_window_warn(crafted: Settings, lake: Path):
    def too_old(events: list[dict]) -> list[dict]:
        return [{**e, "originalTimestamp": "2024-01-01T00:00:00.000Z", "timestamp": "2024-01-01T00:00:00.000Z",
                 "sentAt": e["receivedAt"]} for e in events]

    for path in landing_files(lake, DAY)[:2]:
        rewrite_lines(path, too_old)
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"event_time_window"}
    window = result["event_time_window"]
    assert window.unexpected_percent > 1
    assert all(row["event_offset_hours"] < -24 * 30 for row in window.sample)


@pytest.fixture
def with_history(lake: Path) -> Path:
    """Two earlier Mondays like 2024-03-11 in bronze (see test_bronze_events.with_history)."""
    move_arrival_day(lake, DAY, "2024-03-04")
    move_arrival_day(lake, DAY, "2024-02-26")
    return lake


def test_a_day_like_its_earlier_weeks_passes_the_volume_rules(crafted: Settings, with_history: Path):
    result = validate("landing/events", DAY, crafted)
    assert result.success
    assert result["volume_band"].observed == 1764  # landed lines, against 1,755 bronze rows a week
    assert result.facts["volume_history"] == {"2024-03-04": 1755, "2024-02-26": 1755, "2024-02-19": None}


def test_a_day_with_half_the_volume_warns(crafted: Settings, with_history: Path):
    for path in landing_files(with_history, DAY)[::2]:
        path.unlink()
    result = validate("landing/events", DAY, crafted)
    assert failed(result) == {"volume_band"}
    assert result.severity == "warning"
    assert result["volume_band"].observed == landed_lines(with_history, DAY) < 0.7 * 1755
