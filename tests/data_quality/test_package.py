"""The package's surface: a light import, the registry, errors a user can cause, results as plain values."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics_settings import REPO_ROOT, load_settings
from data_quality import SUITES, ExpectationResult, SuiteResult, suite_info, validate
from data_quality.results import plain


def test_importing_the_package_and_its_registry_does_not_load_great_expectations():
    """A Dagster code location reads SUITES when it loads; Great Expectations takes seconds to import."""
    probe = ("import sys, data_quality; data_quality.SUITES['bronze/events'].asset_key_path; "
             "print('great_expectations' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"


def test_one_suite_per_asset_keyed_like_the_dagster_assets():
    assert list(SUITES) == ["landing/events", "bronze/events", "gold/daily_event_rollup", "marts/dim_sessions"]
    assert suite_info("bronze/events").asset_key_path == ["bronze", "events"]
    assert {info.suite_name for info in SUITES.values()} == {
        "landing_events", "bronze_events", "gold_daily_event_rollup", "marts_dim_sessions"}


def test_every_rule_has_a_unique_name_a_reason_and_the_severity_of_the_one_table():
    from data_quality.registry import GATES
    from data_quality.rules import rule_name, severity_of

    for info in SUITES.values():
        rules = info.load_module().expectations()
        names = [rule_name(rule) for rule in rules]
        assert len(names) == len(set(names)), info.asset
        assert {name: severity_of(rule) for name, rule in zip(names, rules, strict=True)} == {
            name: kind for name, (kind, _) in GATES[info.asset].items()}, info.asset
        assert all(len(rule.notes) > 40 for rule in rules), info.asset


def test_what_blocks_is_only_what_no_users_events_can_cause():
    from data_quality.registry import GATES

    blocking = {(asset, rule) for asset, rules in GATES.items() for rule, (kind, _) in rules.items()
                if kind == "blocking"}
    assert blocking == {
        ("landing/events", "required_fields"), ("landing/events", "type_in_spec"),
        ("landing/events", "received_in_partition"),
        ("bronze/events", "required_fields"), ("bronze/events", "type_in_spec"),
        ("bronze/events", "message_id_unique"), ("bronze/events", "event_time_window"),
        ("gold/daily_event_rollup", "events_equal_bronze"), ("gold/daily_event_rollup", "revenue_equals_bronze")}


def test_the_readme_and_the_list_command_show_the_one_table():
    from data_quality.registry import gates_table

    readme = (REPO_ROOT / "data_quality" / "README.md").read_text()
    assert gates_table() in readme
    listed = subprocess.run([sys.executable, "-m", "data_quality", "list"], cwd=REPO_ROOT, capture_output=True,
                            text=True, check=True).stdout
    assert gates_table() in listed


def test_an_unknown_asset_or_a_partition_that_is_not_a_day_is_refused_with_the_fix(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(KeyError, match="suites exist for landing/events, bronze/events"):
        validate("silver/events", "2024-03-11", settings)
    with pytest.raises(ValueError, match="pass the UTC day as YYYY-MM-DD"):
        validate("bronze/events", "2024-03", settings)


def test_a_missing_warehouse_is_named(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, warehouse_path=tmp_path / "nowhere.duckdb")
    with pytest.raises(FileNotFoundError, match="no warehouse at .*nowhere.duckdb"):
        validate("marts/dim_sessions", "2024-03-11", settings)


def test_an_empty_partition_fails_nothing_it_cannot_see(tmp_path: Path):
    """No landing files, no bronze: the row rules pass on zero rows and the volume rules need history."""
    settings = load_settings(data_dir=tmp_path, lake_uri=str(tmp_path / "lake"))
    for asset in ("landing/events", "bronze/events", "gold/daily_event_rollup"):
        result = validate(asset, "2024-03-11", settings)
        assert result.success, asset
        assert all(e.element_count in (None, 0) for e in result.expectations)


def test_plain_values_for_json():
    assert plain({"a": np.int64(3), "b": np.float64(1.5), "c": np.bool_(True), "d": pd.Timestamp("2024-03-11"),
                  "e": Decimal("2.50"), "f": date(2024, 3, 11), "g": [np.nan, pd.NA, pd.NaT, None],
                  "h": datetime(2024, 3, 11, 1, 2)}) == {
        "a": 3, "b": 1.5, "c": True, "d": "2024-03-11T00:00:00", "e": 2.5, "f": "2024-03-11",
        "g": [None, None, None, None], "h": "2024-03-11T01:02:00"}
    assert type(plain(np.float64(1.5))) is float


def test_a_suite_result_says_what_blocks_and_serializes():
    blocking = ExpectationResult(name="message_id_unique", expectation="expect_column_values_to_be_unique",
                                 severity="blocking", success=False, observed=2, element_count=10,
                                 unexpected_count=2, unexpected_percent=20.0, sample=[{"message_id": "m1"}] * 2)
    warning = ExpectationResult(name="volume_band", expectation="expect_table_row_count_to_be_between",
                                severity="warning", success=False, observed=5, expected={"min_value": 7})
    skipped = ExpectationResult(name="event_time_window", expectation="expect_table_row_count_to_be_between",
                                severity="blocking", success=True, note="no history", skipped=True)
    result = SuiteResult(asset="bronze/events", partition="2024-03-11", suite="bronze_events", success=False,
                         expectations=(blocking, warning, skipped))
    assert result.severity == "blocking"
    assert result.blocking_failures == [blocking] and result.warning_failures == [warning]
    assert result["event_time_window"] is skipped
    assert blocking.summary == ("message_id_unique [blocking] FAILED: 2 of 10 rows unexpected (20.00%)")
    assert warning.summary == "volume_band [warning] FAILED: observed 5; expected min_value 7"
    assert skipped.summary == "event_time_window: skipped (no history)"
    assert json.loads(json.dumps(result.to_dict()))["severity"] == "blocking"
