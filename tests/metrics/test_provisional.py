"""Provisional days on the golden warehouse: exactly the days within ANALYTICS_PROVISIONAL_DAYS of the latest
arrival day, through the semantic layer, with no churn and no retention counted on them."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from analytics_settings import load_settings
from metrics import SemanticLayer
from tests.conftest import arrival_days_of
from tests.metrics.compare import assert_same, day_cohort_retention, frame_rows, sql_rows

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset

START, END = "2024-03-04", "2024-03-19"  # the two weeks and the day after them, [start, end)


@pytest.fixture(scope="module")
def first_provisional_day(golden_lake: Path) -> date:
    """From the lake, not the warehouse: the latest arrival day with landing files, minus the default
    provisional days, plus one (arrival days run to 2024-03-21, so 2024-03-17)."""
    latest_arrival_day = date.fromisoformat(arrival_days_of(golden_lake)[-1])
    first = latest_arrival_day - timedelta(days=load_settings().provisional_days - 1)
    assert first == date(2024, 3, 17)
    return first


def test_daily_metrics_say_which_days_are_provisional(layer: SemanticLayer, marts,
                                                      first_provisional_day: date) -> None:
    in_range = f"between date '{START}' and date '{END}' - 1"
    for metric, table, day in (("events", "fct_events", "event_date"), ("sessions", "dim_sessions", "session_date")):
        by_day = f"select {day}, count(*) from marts.{table} where not is_bot and {day} {in_range} group by all"
        expected = sql_rows(marts, by_day)
        assert len(expected) >= 14
        frame = layer.query(metric, group_by=["calendar_day__is_provisional"], start=START, end=END)
        assert_same(frame_rows(frame, metric),
                    {(day, day >= first_provisional_day): count for (day,), count in expected.items()})

    active = layer.query("active_users", group_by=["calendar_day__is_provisional"], start=START, end=END,
                         grain=None)
    assert_same(frame_rows(active, "active_users"), sql_rows(marts, f"""
        select activity_date >= date '{first_provisional_day}', count(distinct user_key)
        from marts.fct_user_activity_daily
        where is_active and activity_date between date '{START}' and date '{END}' - 1 group by all"""))


def test_nobody_churns_on_a_provisional_day(marts, first_provisional_day: date) -> None:
    """Churned on a day: active the day before, not that day; only on days before the provisional ones."""
    active = marts.execute("select distinct user_key, activity_date from marts.fct_user_activity_daily "
                           "where is_active").fetchall()
    active_days = {(user, day) for user, day in active}
    last_active_day = max(day for _, day in active)
    expected = {(user, day + timedelta(days=1)) for user, day in active_days
                if (user, day + timedelta(days=1)) not in active_days
                and day + timedelta(days=1) <= last_active_day and day + timedelta(days=1) < first_provisional_day}
    churned = set(marts.execute("select user_key, activity_date from marts.fct_user_activity_daily "
                                "where status = 'churned'").fetchall())
    assert churned == expected
    assert any(day == first_provisional_day - timedelta(days=1) for _, day in churned)
    flags = set(marts.execute("select distinct activity_date, is_provisional "
                              "from marts.fct_user_activity_daily").fetchall())
    assert flags == {(day, day >= first_provisional_day) for day, _ in flags}


def test_incomplete_retention_periods_are_left_out(layer: SemanticLayer, marts, first_provisional_day: date) -> None:
    """The last cohort (users first seen on 2024-03-10: the golden visitors arrive in the first week) has
    periods 0 to 6 and a period 7 on the first provisional day: unknown yet, not a retention of 0. A week
    is complete once its Sunday is not provisional."""
    cohort_day = date(2024, 3, 10)
    frame = layer.query("retention_rate", group_by=["cohort_period__period_number"], start=str(cohort_day),
                        end=str(cohort_day + timedelta(days=1)))
    assert_same(frame_rows(frame, "retention_rate"),
                day_cohort_retention(marts, cohort_day, first_provisional_day) | {(cohort_day, 7): None})
    # the week of 2024-03-11 ends on Sunday 2024-03-17, the first provisional day
    weeks = sql_rows(marts, "select cohort_start, period_number, is_complete from marts.fct_retention "
                            "where cohort_grain = 'week'")
    assert weeks == {(date(2024, 3, 4), 0): True, (date(2024, 3, 4), 1): False}
