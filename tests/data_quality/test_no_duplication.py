"""A rule lives either in a dbt test or in a suite, not both.

The dbt tests are read from the project's YAML; each suite rule is mapped by hand to the dbt test that
would say the same thing about the same data (the model that reads the asset). The mapping is the claim
under test: a new dbt test or a new rule that repeats the other side fails here.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from analytics_settings import REPO_ROOT
from data_quality import SUITES
from data_quality.rules import rule_name

MODELS = REPO_ROOT / "dbt_project" / "models"
# The model that reads each asset, and the dbt tests that would repeat a suite rule on it:
# (model, column or None for a model-level test, test name).
EQUIVALENTS = {
    "landing/events": {name: set() for name in (  # dbt never reads landing
        "quarantine_share", "required_fields", "type_in_spec", "received_in_partition", "message_id_unique",
        "event_time_window", "volume_band")},
    "bronze/events": {
        "required_fields": {("stg_events", "event_name", "not_null"), ("stg_events", "event_time", "not_null"),
                            ("stg_events", "received_at", "not_null"), ("stg_events", "event_type", "not_null"),
                            ("stg_events", None, "stg_events_has_an_identity")},
        "type_in_spec": {("stg_events", "event_type", "accepted_values")},
        "event_time_window": {("stg_events", None, "stg_events_event_time_at_most_23_hours_after_arrival")},
        # stg_events' `unique` on event_id checks its own dedup across a run's arrival days: another rule
        "message_id_unique": set(),
        "revenue_not_negative": {("stg_events", "revenue", "accepted_range")},
        "device_parsed": set(), "country_resolved": set(), "quarantine_share": set(),
        "volume_band": set(),
    },
    "gold/daily_event_rollup": {
        "events_equal_bronze": set(), "revenue_equals_bronze": set(),
    },
    # dbt's tests of dim_sessions have fixed bounds (accepted_range); these compare with the last 28 days
    "marts/dim_sessions": {name: set() for name in (
        "session_duration_median", "session_duration_mean", "events_per_session_median",
        "events_per_session_mean", "revenue_per_purchase_median",
        "orders_in_unknown_currency")},  # a count dbt leaves to the suite: unknown currencies warn, never fail
}
def dbt_tests() -> set[tuple[str, str | None, str]]:
    """Every data test of every model: (model, column or None, test name or the test's `name:`)."""
    found = set()
    for path in MODELS.rglob("*.yml"):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            for test in model.get("data_tests", []):
                found.add((model["name"], None, _test_name(test)))
            for column in model.get("columns", []):
                for test in column.get("data_tests", []):
                    found.add((model["name"], column["name"], _test_name(test)))
    return found


def _test_name(test: str | dict) -> str:
    if isinstance(test, str):
        return test
    [(kind, config)] = test.items()
    return (config or {}).get("name", kind)


def test_every_rule_is_mapped():
    for asset, info in SUITES.items():
        assert {rule_name(rule) for rule in info.load_module().expectations()} == set(EQUIVALENTS[asset]), asset


def test_no_mart_rule_is_a_dbt_test():
    """The sessions suite holds only what dbt tests cannot say: bounds drawn from the last four weeks, and the
    day's count of orders in a currency without rates (a warning with its count, shown per day in the data
    docs, where a dbt test could only pass or fail the build)."""
    tests = dbt_tests()
    assert ("dim_sessions", "duration_seconds", "accepted_range") in tests  # fixed bounds live in dbt
    for rule in SUITES["marts/dim_sessions"].load_module().expectations():
        if rule_name(rule) == "orders_in_unknown_currency":
            assert (rule.column, rule.min_value, rule.max_value) == ("unconverted_purchases", None, 0)
            continue
        assert rule.min_value == {"$PARAMETER": f"{rule.column}_{rule_name(rule).rsplit('_', 1)[1]}_min"}
        assert rule.max_value == {"$PARAMETER": f"{rule.column}_{rule_name(rule).rsplit('_', 1)[1]}_max"}


def test_no_rule_repeats_a_dbt_test():
    tests = dbt_tests()
    repeated = {(asset, rule, test) for asset, rules in EQUIVALENTS.items()
                for rule, equivalents in rules.items() for test in equivalents if test in tests}
    assert repeated == set()


def test_the_dbt_project_is_where_the_tests_are_read_from():
    assert Path(MODELS / "staging" / "stg_events.yml").exists()
    assert ("stg_events", "event_id", "unique") in dbt_tests()
