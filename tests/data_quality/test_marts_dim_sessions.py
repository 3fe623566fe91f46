"""The sessions suite: distributions of the golden warehouse pass against their own history; a day whose
sessions last ten times longer, carry three times the events or are paid in cents does not, and orders in a
currency without an exchange rate are counted."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from analytics_settings import Settings
from data_quality import validate
from tests.data_quality.conftest import quality_settings

pytestmark = pytest.mark.slow

RULES = ["session_duration_median", "session_duration_mean", "events_per_session_median",
         "events_per_session_mean", "revenue_per_purchase_median", "orders_in_unknown_currency"]


def failed(result) -> set[str]:
    return {e.name for e in result.expectations if not e.success}


def change(warehouse: Path, sql: str) -> None:
    with duckdb.connect(str(warehouse)) as con:
        con.execute(sql)


@pytest.fixture
def settings(tmp_path: Path, golden_lake: Path, warehouse: Path) -> Settings:
    return quality_settings(tmp_path / "data", golden_lake, warehouse)


def test_every_day_passes_and_days_without_history_are_skipped(golden_marts: Settings):
    for day in range(4, 18):
        result = validate("marts/dim_sessions", f"2024-03-{day:02d}", golden_marts)
        assert [e.name for e in result.expectations] == RULES
        assert result.success, (day, [e.summary for e in result.expectations if not e.success])
        evaluated = {e.name for e in result.expectations if not e.skipped}
        # a week of history is needed; revenue per purchase also needs ten purchases before the day
        counted = {"orders_in_unknown_currency"}  # needs no history
        assert evaluated == counted | (set() if day < 11 else set(RULES[:4]) if day < 16 else set(RULES)), day
    assert "10 values of history" in validate("marts/dim_sessions", "2024-03-15", golden_marts)[
        "revenue_per_purchase_median"].note


def test_the_golden_figures_are_the_warehouse_figures(golden_marts: Settings, golden_warehouse: Path):
    result = validate("marts/dim_sessions", "2024-03-12", golden_marts)
    with duckdb.connect(str(golden_warehouse), read_only=True) as con:
        [(sessions, median, mean)] = con.execute(
            "SELECT count(*), median(duration_seconds), avg(duration_seconds) FROM marts.dim_sessions "
            "WHERE session_date = '2024-03-12' AND NOT is_bot").fetchall()
    assert result.facts["sessions"] == sessions == 179
    assert result["session_duration_median"].observed == pytest.approx(median)
    assert result["session_duration_mean"].observed == pytest.approx(mean)
    low, high = (result["session_duration_median"].expected[k] for k in ("min_value", "max_value"))
    assert low < median < high


def test_sessions_ten_times_longer_warn(settings: Settings, warehouse: Path):
    change(warehouse, "UPDATE marts.dim_sessions SET duration_seconds = duration_seconds * 10 "
                      "WHERE session_date = '2024-03-12'")
    result = validate("marts/dim_sessions", "2024-03-12", settings)
    assert failed(result) == {"session_duration_median", "session_duration_mean"}
    assert result.severity == "warning"
    median = result["session_duration_median"]
    assert median.observed > median.expected["max_value"]
    # the sample shows the longest sessions of the day
    assert median.sample[0]["duration_seconds"] == max(row["duration_seconds"] for row in median.sample)
    assert len(median.sample) == 5 and set(median.sample[0]) >= {"session_id", "session_start", "events"}


def test_sessions_with_three_times_the_events_warn(settings: Settings, warehouse: Path):
    change(warehouse, "UPDATE marts.dim_sessions SET events = events * 3 WHERE session_date = '2024-03-14'")
    result = validate("marts/dim_sessions", "2024-03-14", settings)
    assert failed(result) == {"events_per_session_median", "events_per_session_mean"}


def test_revenue_in_cents_warns(settings: Settings, warehouse: Path):
    change(warehouse, "UPDATE marts.dim_sessions SET revenue = revenue * 100 WHERE session_date = '2024-03-16'")
    result = validate("marts/dim_sessions", "2024-03-16", settings)
    assert failed(result) == {"revenue_per_purchase_median"}
    median = result["revenue_per_purchase_median"]
    assert median.observed == 194700.0 and median.expected["max_value"] < 194700.0
    assert [row["purchases"] for row in median.sample] == [1, 1, 1]


def test_negative_revenue_warns(settings: Settings, warehouse: Path):
    change(warehouse, "UPDATE marts.dim_sessions SET revenue = -revenue WHERE session_date = '2024-03-16'")
    result = validate("marts/dim_sessions", "2024-03-16", settings)
    assert failed(result) == {"revenue_per_purchase_median"}
    assert result["revenue_per_purchase_median"].observed < 0
    assert all(row["revenue"] < 0 for row in result["revenue_per_purchase_median"].sample)


def test_orders_in_a_currency_without_a_rate_are_counted(settings: Settings, warehouse: Path):
    """As if the day's orders had come in a currency the rates do not know (fct_events flags them, their
    sessions count them in `unconverted_purchases` and leave them out of `revenue`: dbt unit tests)."""
    change(warehouse, "UPDATE marts.dim_sessions SET unconverted_purchases = purchases, revenue = 0 "
                      "WHERE session_date = '2024-03-16' AND purchases > 0")
    result = validate("marts/dim_sessions", "2024-03-16", settings)
    assert failed(result) == {"orders_in_unknown_currency"}
    assert result.severity == "warning"
    counted = result["orders_in_unknown_currency"]
    assert counted.observed == 3 and counted.expected == {"max_value": 0}
    # the sample: the sessions that add most to the count (the day's three orders, then others)
    assert [row["unconverted_purchases"] for row in counted.sample] == [1, 1, 1, 0, 0]
    # with no converted purchase left, revenue per purchase has no value on the day: skipped, not failed
    assert result["revenue_per_purchase_median"].skipped
