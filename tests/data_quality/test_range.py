"""A range of days checked in one validation gives each day the verdict a run of that day alone gives."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from collector.generator import GeneratorConfig, generate
from collector.generator.sinks import LandingSink
from data_quality import SuiteResult, validate, validate_days
from tests.conftest import arrival_days_of
from tests.data_quality.conftest import quality_settings
from tests.data_quality.crafting import landing_files, rewrite_lines

pytestmark = pytest.mark.slow


def verdicts(result: SuiteResult) -> list[tuple]:
    return [(e.name, e.severity, e.success, e.skipped, e.observed, e.expected, e.element_count, e.unexpected_count,
             e.sample, e.note) for e in result.expectations]


def assert_same_as_day_by_day(asset: str, days: list[str], settings) -> list[SuiteResult]:
    together = validate_days(asset, days, settings)
    assert [result.partition for result in together] == days
    for result in together:
        alone = validate(asset, result.partition, settings)
        assert verdicts(result) == verdicts(alone), (asset, result.partition)
        assert (result.facts, result.severity) == (alone.facts, alone.severity), (asset, result.partition)
    return together


def test_landing_days_with_different_faults_get_their_own_verdicts(tmp_path: Path):
    lake = tmp_path / "lake"
    generate(GeneratorConfig(start=date(2024, 3, 4), users=30, days=4, seed=11), LandingSink(lake, "web", writer_id="t"),
             tmp_path / "truth")
    days = arrival_days_of(lake)[:4]

    def unknown_type(events: list[dict]) -> list[dict]:
        events[0]["type"] = "purchase"
        return events

    def no_identity(events: list[dict]) -> list[dict]:
        for event in events[:3]:
            event.pop("userId", None), event.pop("anonymousId", None)
        return events

    rewrite_lines(landing_files(lake, days[1])[0], unknown_type)
    rewrite_lines(landing_files(lake, days[3])[0], no_identity)
    together = assert_same_as_day_by_day("landing/events", days, quality_settings(tmp_path / "data", lake))
    assert [result.severity for result in together] == [None, "blocking", None, "blocking"]
    assert together[1]["type_in_spec"].unexpected_count == 1 and together[3]["required_fields"].unexpected_count == 3
    assert together[3]["required_fields"].sample[0]["missing_fields"] == "userId or anonymousId"


def test_bronze_and_gold_of_the_golden_days_in_one_validation(golden, golden_lake: Path):
    days = arrival_days_of(golden_lake)
    for asset in ("bronze/events", "gold/daily_event_rollup"):
        together = assert_same_as_day_by_day(asset, days, golden)
        assert len({result.docs_page for result in together}) == 1  # one stored validation for the range
