"""Structured filters: every operator, values bound as parameters, and injection attempts taken literally."""

from __future__ import annotations

from datetime import date

import pytest

from metrics import Filter, InvalidQueryError, SemanticLayer, UnknownDimensionError
from tests.metrics.compare import assert_same, frame_rows, sql_rows

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)


def total(layer: SemanticLayer, metric: str, *where) -> int:
    return layer.query(metric, where=list(where), grain=None)[metric].item()


def count_sessions(marts, condition: str) -> int:
    return marts.execute(f"select count(*) from marts.dim_sessions where not is_bot and ({condition})").fetchone()[0]


@pytest.mark.parametrize("where, condition", [
    (("session__country_code", "=", "US"), "country_code = 'US'"),
    (("session__country_code", "!=", "US"), "country_code <> 'US'"),
    (("session__country_code", "in", ["US", "FR", "XX"]), "country_code in ('US', 'FR')"),
    (("session__country_code", "not in", ("US", "FR")), "country_code not in ('US', 'FR')"),
    (("session__utm_source", "is null"), "utm_source is null"),
    (("session__utm_source", "is not null"), "utm_source is not null"),
    (("session__landing_page", "like", "/product%"), "landing_page like '/product%'"),
    (("session__landing_page", "not like", "/product%"), "landing_page not like '/product%'"),
    (("session__is_bounce", "=", True), "is_bounce"),
    (("session__session_start__day", ">=", date(2024, 3, 11)), "session_start >= date '2024-03-11'"),
    (("session__session_start__day", "<", "2024-03-11"), "session_start < date '2024-03-11'"),
])
def test_each_operator(layer: SemanticLayer, marts, where, condition: str) -> None:
    expected = count_sessions(marts, condition)
    assert expected > 0
    assert total(layer, "sessions", where) == expected


def test_filter_forms_are_the_same(layer: SemanticLayer) -> None:
    forms = [Filter("session__country_code", "in", ["US", "CA"]),
             ("session__country_code", "IN", ["US", "CA"]),
             {"dimension": "session__country_code", "op": " in ", "value": ["CA", "US"]}]
    assert len({total(layer, "sessions", form) for form in forms}) == 1
    assert len({layer.sql("sessions", where=[form]) for form in forms}) == 1


def test_filters_combine_with_and_and_apply_before_grouping(layer: SemanticLayer, marts) -> None:
    frame = layer.query("bounce_rate", group_by=["session__referrer_class"], grain=None,
                        where=[("session__device_type", "=", "mobile"), ("session__country_code", "=", "IN")])
    expected = sql_rows(marts, """
        select referrer_class, avg(case when is_bounce then 1.0 else 0.0 end) from marts.dim_sessions
        where not is_bot and device_type = 'mobile' and country_code = 'IN' group by all""")
    assert_same(frame_rows(frame, "bounce_rate"), expected)


def test_numeric_comparison_on_a_numeric_dimension(layer: SemanticLayer, marts) -> None:
    frame = layer.query("retained_users", group_by=["cohort_period__period_number"], grain=None,
                        where=[("cohort_period__cohort_grain", "=", "day"), ("cohort_period__period_number", "<=", 3)])
    expected = sql_rows(marts, """
        select period_number, sum(retained_users) from marts.fct_retention
        where cohort_grain = 'day' and period_number <= 3 and is_complete group by all""")
    assert_same(frame_rows(frame, "retained_users"), expected)


INJECTIONS = [
    "US' OR '1'='1",
    "US'; drop table marts.fct_events; --",
    "{{ Dimension('event__is_bot') }}",
    "{% raw %}US{% endraw %}",
    "$f0",
    'US") or true or ("',
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_an_injection_in_a_value_is_a_literal(layer: SemanticLayer, marts, value: str) -> None:
    benign = layer.explain("events", where=[("event__country_code", "=", "US")], grain=None)
    explained = layer.explain("events", where=[("event__country_code", "=", value)], grain=None)
    assert explained.sql == benign.sql  # the value is not in the SQL at all, only bound to $f0
    assert explained.parameters == {"f0": value}
    assert total(layer, "events", ("event__country_code", "=", value)) == 0
    assert total(layer, "events", ("event__country_code", "in", ["US", value])) == total(
        layer, "events", ("event__country_code", "=", "US")) > 0
    assert marts.execute("select count(*) from marts.fct_events").fetchone()[0] > 0


@pytest.mark.parametrize("dimension", [
    "event__country_code') }} = 'US' or {{ Dimension('event__country_code",
    "event__country_code; drop table marts.fct_events",
    "country_code",
])
def test_an_injection_in_a_dimension_is_an_unknown_name(layer: SemanticLayer, dimension: str) -> None:
    with pytest.raises(UnknownDimensionError):
        layer.query("events", where=[(dimension, "=", "US")])
    with pytest.raises(UnknownDimensionError):
        layer.query("events", group_by=[dimension])


@pytest.mark.parametrize("op", ["= 'US' or 1=1 --", "between", "==="])
def test_only_known_operators(layer: SemanticLayer, op: str) -> None:
    with pytest.raises(InvalidQueryError, match="valid operators: =, ==, eq"):
        layer.query("events", where=[("event__country_code", op, "US")])


@pytest.mark.parametrize("where, message", [
    (("event__country_code", "in", "US"), "takes a list of values"),
    (("event__country_code", "in", []), "needs at least one value"),
    (("event__country_code", "=", None), "use the 'is null' or 'is not null' operator"),
    (("event__country_code", "is null", "US"), "takes no value"),
    (("event__country_code", "=", {"a": 1}), "is not a string, number, boolean, date or datetime"),
    (("event__country_code",), "write it as"),
    ({"dimension": "event__country_code", "operator": "="}, "write it as"),
    (("event__is_bot", "=", "maybe"), "does not fit its dimension"),
])
def test_bad_filters_say_why(layer: SemanticLayer, where, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message):
        layer.query("events", where=[where], grain=None)


def test_sql_text_is_not_a_filter(layer: SemanticLayer) -> None:
    with pytest.raises(InvalidQueryError, match="filters are structured, not SQL text"):
        layer.query("events", where="country_code = 'US'")
