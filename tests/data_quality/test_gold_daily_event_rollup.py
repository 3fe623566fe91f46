"""The gold suite: the rollup equals bronze on the golden dataset, and not once bronze or gold is changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from analytics_settings import Settings
from data_quality import validate
from tests.conftest import arrival_days_of
from tests.data_quality.crafting import bronze_files, count, rewrite_parquet

pytestmark = pytest.mark.slow

DAY = "2024-03-11"


def failed(result) -> set[str]:
    return {e.name for e in result.expectations if not e.success}


def test_every_arrival_day_passes(golden: Settings, golden_lake: Path):
    for day in arrival_days_of(golden_lake):
        result = validate("gold/daily_event_rollup", day, golden)
        assert [e.name for e in result.expectations] == ["events_equal_bronze", "revenue_equals_bronze"]
        assert result.success, (day, [e.summary for e in result.expectations if not e.success])
    result = validate("gold/daily_event_rollup", DAY, golden)
    # arrival day 2024-03-11 brought events of 2024-03-11 and late ones of 2024-03-08
    assert result.facts["event_dates"] == ["2024-03-08", "2024-03-11"]
    bronze = count(golden_lake, "SELECT count(*) FROM read_parquet('{lake}/bronze/events/event_date=2024-03-0"
                                "8/*/*.parquet') ") + count(golden_lake, "SELECT count(*) FROM read_parquet("
                                                                         "'{lake}/bronze/events/event_date=2024-03-11/*/*.parquet')")
    assert result.facts["gold_events"] == result.facts["bronze_events"] == bronze
    assert result.facts["gold_revenue"] == result.facts["bronze_revenue"]


def test_bronze_changed_after_the_rollup_blocks(crafted: Settings, lake: Path):
    """A duplicated bronze row the rollup never saw: one group's events differ by one."""
    rewrite_parquet(bronze_files(lake, DAY, DAY)[0],
                    "SELECT * FROM file UNION ALL (SELECT * FROM file WHERE type = 'page' ORDER BY message_id LIMIT 1)")
    result = validate("gold/daily_event_rollup", DAY, crafted)
    assert failed(result) == {"events_equal_bronze"}
    assert result.severity == "blocking"
    [group] = result["events_equal_bronze"].sample
    assert group["event_name"] == "page" and group["bronze_events"] == group["gold_events"] + 1
    assert group["event_date"] == DAY


def test_a_rollup_with_wrong_revenue_blocks(crafted: Settings, lake: Path):
    [gold] = sorted(lake.glob(f"gold/daily_event_rollup/event_date={DAY}/*.parquet"))
    rewrite_parquet(gold, "SELECT * REPLACE (CASE WHEN revenue > 0 THEN revenue * 100 ELSE revenue END AS revenue) "
                          "FROM file")
    result = validate("gold/daily_event_rollup", DAY, crafted)
    assert failed(result) == {"revenue_equals_bronze"}
    revenue = result["revenue_equals_bronze"]
    assert revenue.unexpected_count == count(lake, f"SELECT count(*) FROM read_parquet('{gold}') WHERE revenue > 0")
    assert all(row["gold_revenue"] == pytest.approx(100 * row["bronze_revenue"]) for row in revenue.sample)


def test_a_missing_rollup_day_blocks(crafted: Settings, lake: Path):
    for path in lake.glob("gold/daily_event_rollup/event_date=2024-03-08/*.parquet"):
        path.unlink()
    result = validate("gold/daily_event_rollup", DAY, crafted)
    assert "events_equal_bronze" in failed(result)  # and revenue, if the day had any
    assert result.facts["gold_events"] < result.facts["bronze_events"]
    assert {row["event_date"] for row in result["events_equal_bronze"].sample} == {"2024-03-08"}
