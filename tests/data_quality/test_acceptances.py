"""A person's acceptance of a blocked day: recorded with who, when and why, refused without a reason or for a
rule that does not block, and honored by the verdicts (hand-made results; the Dagster run is in
tests/orchestration/test_quality_gates.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analytics_settings import REPO_ROOT, load_settings
from data_quality import ExpectationResult, SuiteResult
from data_quality.acceptances import accept, acceptances, applied, store_path

DUPLICATES = ExpectationResult("message_id_unique", "expect_column_values_to_be_unique", "blocking", False,
                            element_count=10, unexpected_count=2, unexpected_percent=20.0)
WINDOW = ExpectationResult("event_time_window", "expect_column_values_to_be_between", "blocking", False,
                           element_count=10, unexpected_count=1, unexpected_percent=10.0)
VOLUME = ExpectationResult("volume_band", "expect_table_row_count_to_be_between", "warning", False, observed=4)


def verdict(day: str = "2024-03-11") -> SuiteResult:
    return SuiteResult(asset="bronze/events", partition=day, suite="bronze_events", success=False,
                       expectations=(DUPLICATES, WINDOW, VOLUME))


def test_an_acceptance_of_the_day_makes_its_blocking_failures_pass_and_says_who_and_why(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    assert verdict().severity == "blocking"
    made = accept(settings, "bronze/events", "2024-03-11", "  a replayed file, checked by hand ", by="Ana")
    assert (made.by, made.reason, made.rules) == ("Ana", "a replayed file, checked by hand", ())
    assert acceptances(settings) == [made]

    result = applied(verdict(), acceptances(settings))
    assert result.severity == "warning" and result.blocking_failures == []
    assert [e.name for e in result.accepted_failures] == ["message_id_unique", "event_time_window"]
    assert result["message_id_unique"].accepted == {"by": "Ana", "at": made.at,
                                                    "reason": "a replayed file, checked by hand"}
    assert result["message_id_unique"].summary.endswith(
        f"(accepted by Ana at {made.at}: a replayed file, checked by hand)")
    assert result["volume_band"].accepted is None  # a warning needs no acceptance
    # another day, or another asset, stays blocked
    assert applied(verdict("2024-03-12"), acceptances(settings)).severity == "blocking"


def test_an_acceptance_of_one_rule_leaves_the_others_blocking_and_the_latest_wins(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    accept(settings, "bronze/events", "2024-03-11", "first look", by="Ana", rules=("event_time_window",))
    later = accept(settings, "bronze/events", "2024-03-11", "second look", by="Bo", rules=("event_time_window",))
    result = applied(verdict(), acceptances(settings))
    assert [e.name for e in result.blocking_failures] == ["message_id_unique"]
    assert result["event_time_window"].accepted == {"by": "Bo", "at": later.at, "reason": "second look"}
    assert len(store_path(settings).read_text().splitlines()) == 2  # every decision is kept


def test_an_acceptance_without_a_reason_or_of_a_rule_that_does_not_block_is_refused(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path)
    with pytest.raises(ValueError, match="needs a reason"):
        accept(settings, "bronze/events", "2024-03-11", "  ", by="Ana")
    with pytest.raises(ValueError, match="volume_band: not a blocking rule of bronze/events; its blocking rules "
                                         "are required_fields, type_in_spec"):
        accept(settings, "bronze/events", "2024-03-11", "why", by="Ana", rules=("volume_band",))
    with pytest.raises(ValueError, match="pass the UTC arrival day as YYYY-MM-DD"):
        accept(settings, "bronze/events", "11/03/2024", "why", by="Ana")
    with pytest.raises(KeyError, match="suites exist for"):
        accept(settings, "silver/events", "2024-03-11", "why", by="Ana")
    assert not store_path(settings).exists()


def test_the_accept_command_records_the_acceptance(tmp_path: Path):
    output = subprocess.run(
        [sys.executable, "-m", "data_quality", "accept", "gold/daily_event_rollup", "2024-03-11",
         "--reason", "rolled up by hand", "--by", "Ana"], cwd=REPO_ROOT, capture_output=True, text=True, check=True,
        env={"ANALYTICS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert output.stdout.startswith("gold/daily_event_rollup 2024-03-11: accepted by Ana at ")
    [record] = [json.loads(line) for line in (tmp_path / "quality" / "acceptances.jsonl").read_text().splitlines()]
    assert record | {"at": None} == {"asset": "gold/daily_event_rollup", "day": "2024-03-11", "at": None,
                                     "reason": "rolled up by hand", "by": "Ana", "rules": []}
    refused = subprocess.run([sys.executable, "-m", "data_quality", "accept", "bronze/events", "2024-03-11",
                              "--reason", ""], check=False, cwd=REPO_ROOT, capture_output=True, text=True,
                             env={"ANALYTICS_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert refused.returncode == 2 and "needs a reason" in refused.stderr
