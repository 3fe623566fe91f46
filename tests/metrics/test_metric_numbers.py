"""Every metric through the semantic layer equals the tests' own SQL on the marts of the golden warehouse."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from metrics import SemanticLayer
from tests.metrics.compare import assert_same, day_cohort_retention, frame_rows, sql_rows

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)

START, END = "2024-03-04", "2024-03-18"  # the golden dataset's two weeks, [start, end)
# Arrival days run to 2024-03-21 (offline sessions arrive up to five days late), so with the default 5
# provisional days the days from 2024-03-17 on are provisional: retention periods reaching them do not count.
FIRST_PROVISIONAL_DAY = "2024-03-17"
WEEK = timedelta(days=7)
IN_RANGE = f"between date '{START}' and date '{END}' - 1"

ACTIVE_BY_DAY = """
    select activity_date, count(distinct user_key) filter (where is_active)
    from marts.fct_user_activity_daily group by all"""


def test_events_per_day(layer: SemanticLayer, marts) -> None:
    expected = sql_rows(marts, f"""
        select event_date, count(*) from marts.fct_events
        where not is_bot and event_date {IN_RANGE} group by all""")
    assert len(expected) == 14
    assert_same(frame_rows(layer.query("events", start=START, end=END), "events"), expected)


def test_events_by_name_and_device_for_one_week(layer: SemanticLayer, marts) -> None:
    frame = layer.query("events", group_by=["event__event_name", "event__device_type"], grain="week",
                        start="2024-03-11", end=END)
    expected = sql_rows(marts, """
        select date_trunc('week', event_date), event_name, device_type, count(*) from marts.fct_events
        where not is_bot and event_date >= date '2024-03-11' group by all""")
    assert_same(frame_rows(frame, "events"), expected)


def test_half_open_range_leaves_out_the_end_day(layer: SemanticLayer, marts) -> None:
    frame = layer.query("events", start="2024-03-05", end="2024-03-07")
    assert [row.date() for row in frame["metric_time__day"]] == [date(2024, 3, 5), date(2024, 3, 6)]
    total = layer.query("events", start="2024-03-05", end="2024-03-07", grain=None)
    assert total["events"].tolist() == [marts.execute(
        "select count(*) from marts.fct_events where not is_bot and event_date in ('2024-03-05', '2024-03-06')"
    ).fetchone()[0]]


def test_daily_active_users(layer: SemanticLayer, marts) -> None:
    assert_same(frame_rows(layer.query("active_users", start=START, end=END), "active_users"),
                sql_rows(marts, ACTIVE_BY_DAY))


@pytest.mark.parametrize("window", [7, 30])
def test_rolling_active_users(layer: SemanticLayer, marts, window: int) -> None:
    metric = f"active_users_{window}d"
    expected = sql_rows(marts, f"""
        with days as (
            select day::date as day from range(date '{START}', date '{END}', interval 1 day) as days(day)
        )
        select day, count(distinct activity.user_key)
        from days
        join marts.fct_user_activity_daily as activity
          on activity.is_active and activity.activity_date > day - {window} and activity.activity_date <= day
        group by all""")
    assert len(expected) == 14
    assert_same(frame_rows(layer.query(metric, start=START, end=END), metric), expected)


def _plan_version(alias: str, day: str) -> str:
    """The join to the dim_users version of ``alias``'s user valid on ``day`` (type 2: [valid_from, valid_to))."""
    return (f"left join marts.dim_users as version on version.user_key = {alias}.user_key "
            f"and {day} >= version.valid_from::date "
            f"and (version.valid_to is null or {day} < version.valid_to::date)")


def _rolling_active(window: int) -> str:
    """Each day of the range and every user active on it or on one of the ``window`` - 1 days before, with
    their last active day and first-seen day: from fct_user_activity_daily, not fct_user_recency_daily."""
    return f"""
        with days as (
            select day::date as day from range(date '{START}', date '{END}', interval 1 day) as days(day)
        ),
        rolling as (
            select days.day, activity.user_key, max(activity.activity_date) as last_active_date,
                   any_value(activity.first_seen_date) as first_seen_date
            from days
            join marts.fct_user_activity_daily as activity
              on activity.is_active and activity.activity_date > day - {window} and activity.activity_date <= day
            group by all
        )"""


@pytest.mark.parametrize("window", [7, 30])
def test_rolling_active_users_by_plan(layer: SemanticLayer, marts, window: int) -> None:
    """A user counts under the plan they had on the day (the dim_users version valid that day), as daily
    active users do; people who never identified have none."""
    metric = f"active_users_{window}d"
    expected = sql_rows(marts, f"""{_rolling_active(window)}
        select rolling.day, version.plan, count(*)
        from rolling
        {_plan_version('rolling', 'rolling.day')}
        group by all""")
    assert {key[1] for key in expected} >= {"free", "plus", "pro", None}
    frame = layer.query(metric, group_by=["user__plan"], start=START, end=END)
    assert_same(frame_rows(frame, metric), expected)


def test_rolling_active_users_by_cohort_week_and_status_of_the_day(layer: SemanticLayer, marts) -> None:
    """The 7-day active users of each day by first-seen week and by their growth status that day: new,
    returning or resurrected when active that day, churned on the first day after, none on other days."""
    expected = sql_rows(marts, f"""{_rolling_active(7)}
        select rolling.day, date_trunc('week', rolling.first_seen_date), that_day.status, count(*)
        from rolling
        left join marts.fct_user_activity_daily as that_day
          on that_day.user_key = rolling.user_key and that_day.activity_date = rolling.day
        group by all""")
    assert {key[2] for key in expected} == {"new", "returning", "resurrected", "churned", None}
    frame = layer.query("active_users_7d", group_by=["recent_user__cohort__week", "recent_user__status"],
                        start=START, end=END)
    assert_same(frame_rows(frame, "active_users_7d"), expected)


def test_rolling_active_users_by_days_since_active_and_identified(layer: SemanticLayer, marts) -> None:
    expected = sql_rows(marts, f"""{_rolling_active(30)}
        select rolling.day, (rolling.day - rolling.last_active_date)::integer, identified.is_identified, count(*)
        from rolling
        join (select distinct user_key, is_identified from marts.fct_user_activity_daily) as identified
          using (user_key)
        group by all""")
    frame = layer.query("active_users_30d", group_by=["recent_user__days_since_active",
                                                      "recent_user__is_identified"], start=START, end=END)
    assert_same(frame_rows(frame, "active_users_30d"), expected)
    assert {0, 1, 7} <= {key[1] for key in expected} <= set(range(14))  # two weeks: at most 13 days since


@pytest.mark.parametrize("grain", ["week", "month"])
def test_rolling_active_users_per_period_are_its_first_day(layer: SemanticLayer, marts, grain: str) -> None:
    """At week or month grain the value of the period's first day with data, not a sum over its days."""
    for window in (7, 30):
        metric = f"active_users_{window}d"
        daily = sql_rows(marts, f"{_rolling_active(window)} select day, count(*) from rolling group by all")
        first_days = {}
        for (day,), users in sorted(daily.items()):
            period = day - timedelta(days=day.weekday() if grain == "week" else day.day - 1)
            first_days.setdefault(period, users)
        frame = layer.query(metric, grain=grain, start=START, end=END)
        assert_same(frame_rows(frame, metric), {(period,): users for period, users in first_days.items()})


def test_daily_and_rolling_active_users_together_by_plan(layer: SemanticLayer) -> None:
    """One query for the three (as a dashboard asks) equals three queries, sliced by a dimension they share."""
    names = ["active_users", "active_users_7d", "active_users_30d"]
    together = layer.query(names, group_by=["user__plan"], start=START, end=END)
    for name in names:
        alone = layer.query(name, group_by=["user__plan"], start=START, end=END)
        assert_same(frame_rows(together.dropna(subset=[name]), name), frame_rows(alone, name))


@pytest.mark.parametrize("grain", ["day", "week"])
def test_new_users(layer: SemanticLayer, marts, grain: str) -> None:
    """Users by the period of their first activity; a period with activity but nobody new counts 0."""
    expected = sql_rows(marts, f"""
        with first_days as (select user_key, min(activity_date) as first_day
                            from marts.fct_user_activity_daily where is_active group by all),
             periods as (select distinct date_trunc('{grain}', activity_date) as period
                         from marts.fct_user_activity_daily)
        select period, count(first_days.user_key)
        from periods left join first_days on date_trunc('{grain}', first_days.first_day) = period
        group by all""")
    assert sum(expected.values()) == 300
    frame = layer.query("new_users", grain=grain, start=START, end=END)
    assert_same(frame_rows(frame, "new_users"), expected)


def test_new_users_by_plan_per_week(layer: SemanticLayer, marts) -> None:
    """Users by the week of their first day and the plan they had that day; a week and plan with activity but
    nobody new counts 0."""
    expected = sql_rows(marts, f"""
        select date_trunc('week', activity.activity_date), version.plan,
               count(distinct activity.user_key) filter (where activity.status = 'new')
        from marts.fct_user_activity_daily as activity
        {_plan_version('activity', 'activity.activity_date')}
        group by all""")
    assert sum(expected.values()) == 300 and 0 in expected.values()
    frame = layer.query("new_users", group_by=["user__plan"], grain="week", start=START, end=END)
    assert_same(frame_rows(frame, "new_users"), expected)


def test_sessions_duration_and_bounce_rate_per_day(layer: SemanticLayer, marts) -> None:
    frame = layer.query(["sessions", "average_session_duration", "bounce_rate"], start=START, end=END)
    for metric, expression in [("sessions", "count(*)"), ("average_session_duration", "avg(duration_seconds)"),
                               ("bounce_rate", "avg(case when is_bounce then 1.0 else 0.0 end)")]:
        expected = sql_rows(marts, f"""
            select session_start::date, {expression} from marts.dim_sessions
            where not is_bot and session_start::date {IN_RANGE} group by all""")
        assert_same(frame_rows(frame, metric), expected)


def test_sessions_by_device_and_country_with_filters(layer: SemanticLayer, marts) -> None:
    frame = layer.query("sessions", group_by=["session__device_type", "session__country_code"], grain="week",
                        where=[("session__country_code", "in", ["US", "DE"]),
                               ("session__referrer_class", "!=", "direct")], start=START, end=END)
    expected = sql_rows(marts, """
        select date_trunc('week', session_start)::date, device_type, country_code, count(*)
        from marts.dim_sessions
        where not is_bot and country_code in ('US', 'DE') and referrer_class <> 'direct'
        group by all""")
    assert {key[2] for key in expected} == {"US", "DE"}
    assert_same(frame_rows(frame, "sessions"), expected)


def test_events_by_dimensions_that_can_be_null(layer: SemanticLayer, marts) -> None:
    """Events read per-day counts (fct_event_counts_daily): any subset of their dimensions adds up to the events,
    a missing browser or campaign tag being a group of its own."""
    frame = layer.query("events", group_by=["event__event_type", "event__browser", "event__os",
                                            "event__referrer_class", "event__utm_source", "event__utm_campaign"],
                        grain=None, where=[("event__event_type", "!=", "identify")], start=START, end=END)
    expected = sql_rows(marts, """
        select event_type, browser, os, referrer_class, utm_source, utm_campaign, count(*) from marts.fct_events
        where not is_bot and event_type <> 'identify' group by all""")
    assert any(None in key for key in expected)
    assert_same(frame_rows(frame, "events"), expected)


def test_revenue_and_orders_by_country_and_currency(layer: SemanticLayer, marts) -> None:
    frame = layer.query(["revenue", "orders"], group_by=["event__country_code", "event__currency"], grain=None,
                        start=START, end=END, order_by=["-orders"])
    for metric, expression in [("revenue", "sum(reporting_revenue)"), ("orders", "count(*)")]:
        expected = sql_rows(marts, f"""
            select country_code, currency, coalesce({expression} filter (where event_name = 'Order Completed'), 0)
            from marts.fct_events where not is_bot group by all""")
        assert_same(frame_rows(frame, metric), expected)
    assert frame["orders"].is_monotonic_decreasing


def test_sessions_by_plan(layer: SemanticLayer, marts) -> None:
    """Sessions join the type 2 users through the user (as `user_hash`): the plan of the session's day."""
    expected = sql_rows(marts, f"""
        select session.session_start::date, version.plan, count(*)
        from marts.dim_sessions as session
        {_plan_version('session', 'session.session_start::date')}
        where not session.is_bot
        group by all""")
    assert {key[1] for key in expected} >= {"free", "plus", "pro", None}
    frame = layer.query("sessions", group_by=["user__plan"], start=START, end=END)
    assert_same(frame_rows(frame, "sessions"), expected)


def test_revenue_and_orders_per_day_and_currency(layer: SemanticLayer, marts) -> None:
    """Order revenue converted and as sent, by the currency it came in; days and currencies with events but no
    order count 0."""
    frame = layer.query(["revenue", "revenue_original_currency", "orders", "unconverted_orders"],
                        group_by=["event__currency"], start=START, end=END)
    for metric, expression in [("revenue", "sum(reporting_revenue)"), ("revenue_original_currency", "sum(revenue)"),
                               ("orders", "count(*)"), ("unconverted_orders", "sum(is_currency_unknown::int)")]:
        expected = sql_rows(marts, f"""
            select event_date, currency, coalesce({expression} filter (where event_name = 'Order Completed'), 0)
            from marts.fct_events where not is_bot group by all""")
        assert_same(frame_rows(frame, metric), expected)
    assert set(frame["event__currency"].dropna()) == {"USD", "GBP", "INR", "JPY", "BRL"}


def test_revenue_per_day_is_the_true_revenue_in_us_dollars(layer: SemanticLayer, golden_data_dir: Path) -> None:
    """The generator's orders (truth/orders.parquet), converted in Python at the rate of their day: `revenue` per
    day in US dollars (the default reporting currency) and `revenue_original_currency` per day and currency."""
    days = [date.fromisoformat(START) + timedelta(days=n) for n in range(14)]
    converted, original = {(day,): Decimal(0) for day in days}, defaultdict(Decimal)
    for order in pq.read_table(golden_data_dir / "truth" / "orders.parquet").to_pylist():
        if not order["is_bot"]:
            converted[order["order_date"],] += order["revenue_usd_at_rate"]
            original[order["order_date"], order["currency"]] += order["revenue"]
    assert_same(frame_rows(layer.query("revenue", start=START, end=END), "revenue"), converted)
    frame = layer.query("revenue_original_currency", group_by=["event__currency"], start=START, end=END)
    assert_same({key: value for key, value in frame_rows(frame, "revenue_original_currency").items() if value},
                original)


def test_average_revenue_per_user_by_plan_per_week(layer: SemanticLayer, marts) -> None:
    """The plan is the user's plan on the day of the activity (the dim_users version valid that day)."""
    expected = sql_rows(marts, f"""
        select date_trunc('week', activity.activity_date), version.plan,
               sum(activity.revenue) / nullif(count(distinct activity.user_key) filter (where activity.is_active), 0)
        from marts.fct_user_activity_daily as activity
        {_plan_version('activity', 'activity.activity_date')}
        group by all""")
    assert {key[1] for key in expected} >= {"free", "plus", "pro", None}
    frame = layer.query("average_revenue_per_user", group_by=["user__plan"], grain="week", start=START, end=END)
    assert_same(frame_rows(frame, "average_revenue_per_user"), expected)


def test_active_users_of_one_plan(layer: SemanticLayer, marts) -> None:
    expected = sql_rows(marts, """
        select activity.activity_date, count(distinct activity.user_key) filter (where activity.is_active)
        from marts.fct_user_activity_daily as activity
        join marts.dim_users as version
          on version.user_key = activity.user_key
         and activity.activity_date >= version.valid_from::date
         and (version.valid_to is null or activity.activity_date < version.valid_to::date)
        where version.plan = 'pro'
        group by all""")
    frame = layer.query("active_users", where=[("user__plan", "=", "pro")], start=START, end=END)
    assert_same(frame_rows(frame, "active_users"), expected)


def test_active_users_by_cohort_week_filtered_on_cohort(layer: SemanticLayer, marts) -> None:
    frame = layer.query("active_users", group_by=["user_day__cohort__week"], grain="week",
                        where=[("user_day__cohort__week", ">=", date(2024, 3, 11))],
                        start=START, end=END)
    expected = sql_rows(marts, """
        select date_trunc('week', activity_date), date_trunc('week', first_seen_date),
               count(distinct user_key) filter (where is_active)
        from marts.fct_user_activity_daily where first_seen_date >= date '2024-03-11' group by all""")
    assert_same(frame_rows(frame, "active_users"), expected)


def test_funnel_conversion_rate_of_each_funnel(layer: SemanticLayer, marts) -> None:
    """Against fct_funnels (another mart): users who entered the last step over those who entered the first."""
    funnels = [row[0] for row in marts.execute("select distinct funnel_name from marts.fct_funnels").fetchall()]
    assert sorted(funnels) == ["browse_to_cart", "signup_to_purchase"]
    frame = layer.query([f"{name}_conversion_rate" for name in funnels], grain=None)
    for name in funnels:
        first, last = marts.execute(f"""
            select max(entered) filter (where step_number = 1),
                   max(entered) filter (where step_number = (select max(step_number) from marts.fct_funnels
                                                              where funnel_name = '{name}'))
            from marts.fct_funnels where funnel_name = '{name}' and dimension = 'all'""").fetchone()
        assert frame[f"{name}_conversion_rate"].tolist() == [pytest.approx(last / first)]


def test_funnel_conversion_by_entry_week_and_device(layer: SemanticLayer, marts) -> None:
    frame = layer.query("funnel_conversion_rate", group_by=["funnel_entry__funnel_name",
                                                            "funnel_entry__device_type"],
                        grain="week", start=START, end=END)
    expected = sql_rows(marts, """
        select date_trunc('week', entered_at), funnel_name, device_type,
               count(distinct user_key) filter (where steps_completed = len(step_times)) / count(distinct user_key)
        from marts.fct_funnel_progress group by all""")
    assert_same(frame_rows(frame, "funnel_conversion_rate"), expected)


def _retention_by_week(marts, days: int) -> dict[tuple, float | None]:
    """Day-N retention of the daily cohorts of each week, from user activity (not fct_retention): of the
    users first seen on a day whose day N is complete (before the first provisional day), the share active
    on day N."""
    rows = marts.execute(f"""
        with active as (select distinct user_key, activity_date, first_seen_date
                        from marts.fct_user_activity_daily where is_active),
             last_day as (select date '{FIRST_PROVISIONAL_DAY}' - 1 as day),
             cohorts as (select first_seen_date as cohort, count(distinct user_key) as users
                         from active group by all),
             retained as (select first_seen_date as cohort, count(distinct user_key) as users from active
                          where activity_date = first_seen_date + {days} group by all)
        select date_trunc('week', cohorts.cohort)::date,
               sum(coalesce(retained.users, 0)) filter (where cohorts.cohort + {days} <= last_day.day),
               sum(cohorts.users) filter (where cohorts.cohort + {days} <= last_day.day)
        from cohorts cross join last_day left join retained using (cohort)
        group by all""").fetchall()
    return {(week,): (kept / users if users else None) for week, kept, users in rows}


def test_day_1_7_30_retention_per_cohort_week(layer: SemanticLayer, marts) -> None:
    frame = layer.query(["day_1_retention", "day_7_retention", "day_30_retention"], grain="week",
                        start=START, end=END)
    for days in (1, 7, 30):
        assert_same(frame_rows(frame, f"day_{days}_retention"), _retention_by_week(marts, days))
    assert frame["day_30_retention"].isna().all()  # two weeks of data: no cohort has a day 30 yet
    assert frame["day_7_retention"].notna().sum() == 1


def test_retention_matrix_of_first_cohort(layer: SemanticLayer, marts) -> None:
    frame = layer.query("retention_rate", group_by=["cohort_period__period_number"], start=START,
                        end="2024-03-05")
    expected = day_cohort_retention(marts, date(2024, 3, 4), date.fromisoformat(FIRST_PROVISIONAL_DAY))
    assert len(expected) == 13
    # period 13 (2024-03-17) is provisional: not a retention of 0, no retention yet
    assert_same(frame_rows(frame, "retention_rate"), expected | {(date(2024, 3, 4), 13): None})


def test_events_week_over_week_growth_per_day(layer: SemanticLayer, marts) -> None:
    events = sql_rows(marts, "select event_date, count(*) from marts.fct_events where not is_bot group by all")
    expected = {(day,): (count - events[(day - WEEK,)]) / events[(day - WEEK,)]
                for (day,), count in events.items() if day >= date(2024, 3, 11)}
    frame = layer.query("events_wow_growth", start="2024-03-11", end=END)
    assert_same(frame_rows(frame, "events_wow_growth"), expected)


def test_active_users_week_over_week_growth_per_week(layer: SemanticLayer, marts) -> None:
    weekly = sql_rows(marts, """
        select date_trunc('week', activity_date), count(distinct user_key)
        from marts.fct_user_activity_daily where is_active group by all""")
    (_, first_users), (second, second_users) = sorted(weekly.items())
    frame = layer.query("active_users_wow_growth", grain="week", start=second[0], end=END)
    assert_same(frame_rows(frame, "active_users_wow_growth"),
                {second: (second_users - first_users) / first_users})
