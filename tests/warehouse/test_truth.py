"""The marts of the golden dataset against the generator's ground truth (collector/generator/model.py).

Event times in the warehouse are the lake's skew-corrected estimates: the client's clock offset is measured
with the send time, so they differ from the true times by the network delay (under a second); sessions are
matched by user and order and their bounds compared within that tolerance.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import query

pytestmark = pytest.mark.slow
CLOCK_TOLERANCE_SECONDS = 1.0


@pytest.fixture(scope="module")
def truth(golden_data_dir: Path) -> Path:
    return golden_data_dir / "truth"


def test_one_row_per_event_and_the_rollup_adds_up(golden_warehouse: Path, truth: Path):
    counts = json.loads((truth / "counts.json").read_text())
    [(events, distinct_ids)] = query(golden_warehouse, "select count(*), count(distinct event_id) from marts.fct_events")
    assert events == distinct_ids == counts["events"]
    [(rolled_up,)] = query(golden_warehouse, "select sum(events) from marts.fct_daily_event_rollup")
    assert rolled_up == counts["events"]


def test_sessions_are_the_true_sessions(golden_warehouse: Path, truth: Path):
    true_sessions = defaultdict(list)
    for row in pq.read_table(truth / "sessions.parquet").to_pylist():
        key = row["stitched_user_id"] or row["anonymous_id"]
        true_sessions[key].append((row["start"], row["end"], row["events"], row["is_bot"]))
    built = defaultdict(list)
    for key, start, end, events, is_bot in query(
            golden_warehouse, "select user_key, session_start, session_end, events, is_bot from marts.dim_sessions"):
        built[key].append((start, end, events, is_bot))

    assert built.keys() == true_sessions.keys()
    assert sum(map(len, built.values())) == sum(map(len, true_sessions.values()))
    for key, sessions in true_sessions.items():
        ours = sorted(built[key])
        assert len(ours) == len(sessions), key
        for (start, end, events, is_bot), (true_start, true_end, true_events, true_bot) in zip(
                ours, sorted(sessions), strict=True):
            assert (events, is_bot) == (true_events, true_bot), key
            assert abs((start - true_start.replace(tzinfo=None)).total_seconds()) < CLOCK_TOLERANCE_SECONDS
            assert abs((end - true_end.replace(tzinfo=None)).total_seconds()) < CLOCK_TOLERANCE_SECONDS


def test_anonymous_ids_are_stitched_to_the_true_user(golden_warehouse: Path, truth: Path):
    seen = {anonymous_id for (anonymous_id,) in query(
        golden_warehouse, "select distinct anonymous_id from marts.fct_events where anonymous_id is not null")}
    users = pq.read_table(truth / "users.parquet").to_pylist()
    true_links = {anonymous_id: user["user_id"] for user in users if user["user_id"]
                  for anonymous_id in user["anonymous_ids"] if anonymous_id in seen}
    stitched = dict(query(golden_warehouse, "select linked_id, user_key from intermediate.int_identities"))
    assert stitched == true_links
    assert len({u["user_id"] for u in users if u["user_id"]}) == len(set(stitched.values())) > 50

    current_plans = dict(query(golden_warehouse, "select user_key, plan from marts.dim_users where is_current"))
    assert current_plans == {user["user_id"]: user["plan"] for user in users if user["user_id"]}


def test_funnel_counts_are_the_true_ones(golden_warehouse: Path, truth: Path):
    true_steps = json.loads((truth / "funnel.json").read_text())["steps"]
    built = query(golden_warehouse, "select step_number, step_name, entered from marts.fct_funnels "
                                    "where funnel_name = 'signup_to_purchase' and dimension = 'all' order by 1")
    assert built == [(step["step"], step["event"], step["users"]) for step in true_steps]


def test_retention_equals_an_independent_computation(golden_warehouse: Path, truth: Path):
    """Day and week retention recomputed in Python from the true sessions of the human visitors (a session
    has events on the days of its start and its end, and lasts less than a day)."""
    active_days = defaultdict(set)
    for row in pq.read_table(truth / "sessions.parquet").to_pylist():
        if not row["is_bot"]:
            active_days[row["stitched_user_id"] or row["anonymous_id"]] |= {row["start"].date(), row["end"].date()}
    last_day = max(day for days in active_days.values() for day in days)

    def week(day: date) -> date:
        return day - timedelta(days=day.weekday())

    expected = {}
    for grain, truncate, period in (("day", lambda d: d, lambda a, b: (b - a).days),
                                    ("week", week, lambda a, b: (b - a).days // 7)):
        cohorts = defaultdict(set)
        retained = defaultdict(set)
        for user, days in active_days.items():
            cohort = truncate(min(days))
            cohorts[cohort].add(user)
            for day in days:
                retained[cohort, period(cohort, truncate(day))].add(user)
        for cohort, members in cohorts.items():
            for n in range(period(cohort, truncate(last_day)) + 1):
                expected[grain, cohort, n] = (len(members), len(retained[cohort, n]))

    built = {(grain, cohort, n): (size, kept) for grain, cohort, n, size, kept in query(
        golden_warehouse, "select cohort_grain, cohort_start, period_number, cohort_users, retained_users "
                          "from marts.fct_retention")}
    assert built == expected
    assert any(n >= 10 and kept for (grain, _, n), (_, kept) in built.items() if grain == "day")


def test_orders_are_converted_to_the_reporting_currency_at_the_rate_of_their_day(golden_warehouse: Path,
                                                                                 truth: Path):
    """Each order's amount in US dollars (the default reporting currency) equals the generator's, computed in
    Python from the same rates file (collector/generator/truth.py): the weekend order takes Friday's rate,
    the others their own day's, and every day's converted revenue adds up to the truth."""
    true_orders = {row["order_id"]: row for row in pq.read_table(truth / "orders.parquet").to_pylist()}
    built = {order_id: row for order_id, *row in query(golden_warehouse, """
        select properties ->> '$.order_id', event_date, currency, revenue, exchange_rate_date, reporting_revenue,
               reporting_currency, is_currency_unknown
        from marts.fct_events where event_name = 'Order Completed'""")}
    assert built == {order_id: [order["order_date"], order["currency"], order["revenue"],
                                order["exchange_rate_date"], order["revenue_usd_at_rate"], "USD", False]
                     for order_id, order in true_orders.items()}
    weekend = [order for order in true_orders.values() if order["order_date"].weekday() >= 5]
    assert weekend and all(order["exchange_rate_date"] < order["order_date"] for order in weekend)
    assert {order["currency"] for order in true_orders.values()} >= {"USD", "GBP", "INR", "JPY", "BRL"}

    true_per_day = defaultdict(Decimal)
    for order in true_orders.values():
        if not order["is_bot"]:
            true_per_day[order["order_date"]] += order["revenue_usd_at_rate"]
    per_day = dict(query(golden_warehouse, "select activity_date, sum(revenue) from marts.fct_user_activity_daily "
                                           "where revenue > 0 group by all"))
    assert per_day == true_per_day
