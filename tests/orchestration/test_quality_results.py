"""How a suite's verdicts on the run's days become one Dagster check result (hand-made verdicts)."""

from __future__ import annotations

import dagster as dg

from data_quality import ExpectationResult, SuiteResult
from orchestration.quality import check_result


def verdict(day: str, *expectations: ExpectationResult) -> SuiteResult:
    return SuiteResult(asset="bronze/events", partition=day, suite="bronze_events",
                       success=all(e.success for e in expectations), expectations=expectations,
                       facts={"bronze_rows": 10}, seconds=1.25, docs_page=f"/docs/{day}.html")


ROWS_OK = ExpectationResult("required_fields", "expect_column_values_to_be_null", "blocking", True,
                            element_count=10, unexpected_count=0, unexpected_percent=0.0)
REVENUE_BAD = ExpectationResult("revenue_not_negative", "expect_column_values_to_be_between", "blocking", False,
                                expected={"min_value": 0}, element_count=10, unexpected_count=1,
                                unexpected_percent=10.0, notes="Revenue is never negative.",
                                sample=[{"message_id": "m-1", "revenue": -25.0, "event_name": "Order | Completed"}])
VOLUME_LOW = ExpectationResult("volume_band", "expect_table_row_count_to_be_between", "warning", False, observed=4,
                               expected={"min_value": 7, "max_value": 15})
VOLUME_SKIPPED = ExpectationResult("volume_band", "expect_table_row_count_to_be_between", "warning", True,
                                   note="fewer than 2 earlier weeks", skipped=True)


def test_all_passed():
    result = check_result([verdict("2024-03-04", ROWS_OK, VOLUME_SKIPPED), verdict("2024-03-05", ROWS_OK)], "/i.html")
    assert result.passed
    assert result.description == "2 expectations passed on 2 days 2024-03-04..2024-03-05 (1 skipped)"
    assert result.metadata["days"].value == ["2024-03-04", "2024-03-05"]
    assert result.metadata["failed_expectations"].value == 0 and result.metadata["seconds"].value == 2.5
    assert "offending_rows" not in result.metadata
    assert result.metadata["verdicts"].value.splitlines()[2:] == [
        "| 2024-03-04 | required_fields | blocking | passed | 0 of 10 rows |  |",
        "| 2024-03-04 | volume_band | warning | skipped | fewer than 2 earlier weeks |  |",
        "| 2024-03-05 | required_fields | blocking | passed | 0 of 10 rows |  |"]
    assert result.metadata["data_docs_pages"].value == {"2024-03-04": "/docs/2024-03-04.html",
                                                        "2024-03-05": "/docs/2024-03-05.html"}


def test_only_warnings_failed_is_a_warn_that_does_not_block():
    result = check_result([verdict("2024-03-04", ROWS_OK, VOLUME_LOW)], "/i.html")
    assert not result.passed and result.severity == dg.AssetCheckSeverity.WARN
    assert result.metadata["blocking_failures"].value == 0
    assert result.description == ("2024-03-04 volume_band [warning] FAILED: observed 4; expected min_value 7, "
                                  "max_value 15")


def test_a_blocking_failure_on_any_day_is_an_error_with_its_offending_rows():
    result = check_result([verdict("2024-03-04", ROWS_OK, VOLUME_LOW), verdict("2024-03-05", REVENUE_BAD)], "/i.html")
    assert not result.passed and result.severity == dg.AssetCheckSeverity.ERROR
    assert result.metadata["failed_expectations"].value == 2 and result.metadata["blocking_failures"].value == 1
    assert result.description.endswith("; 2024-03-05 revenue_not_negative [blocking] FAILED: 1 of 10 rows "
                                       "unexpected (10.00%); expected min_value 0")
    assert "| 2024-03-05 | revenue_not_negative | blocking | **FAILED** | 1 of 10 rows | min_value 0 |" in (
        result.metadata["verdicts"].value)
    assert result.metadata["offending_rows"].value.splitlines()[-5:] == [
        "**2024-03-05 revenue_not_negative** (blocking): Revenue is never negative.",
        "",
        "| message_id | revenue | event_name |",
        "|---|---|---|",
        "| m-1 | -25.0 | Order \\| Completed |"]
