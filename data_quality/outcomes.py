"""Great Expectations' validation result turned into a ``SuiteResult``: per expectation its verdict, what
was observed against what was expected, and a few offending rows taken from the validated frame."""

from __future__ import annotations

from typing import Any

import pandas as pd

from data_quality.batch import Batch
from data_quality.registry import SuiteInfo
from data_quality.results import ExpectationResult, SuiteResult, plain
from data_quality.rules import rule_name, sample_columns_of, severity_of

SAMPLE_ROWS = 5
# The keyword arguments that say what a rule expects (the rest name the column or tune the run).
EXPECTED_KEYS = ("value_set", "min_value", "max_value", "strict_min", "strict_max", "mostly")
# Expectations on one aggregate of a column: their sample is the rows at the end that moved.
AGGREGATES = {"expect_column_median_to_be_between", "expect_column_mean_to_be_between",
              "expect_column_max_to_be_between", "expect_column_min_to_be_between",
              "expect_column_sum_to_be_between"}


def suite_result(info: SuiteInfo, partition: str, validated: list, batch: Batch, rules: list,
                 seconds: float, run_name: str, docs_page: str | None,
                 passed: dict[str, ExpectationResult] | None = None) -> SuiteResult:
    """``validated``: the expectation results of ``partition``; ``passed``: outcomes already known (row rules
    no row of a range offended); ``rules`` is the whole suite in order, those in ``batch.skipped`` were not
    validated."""
    by_rule = {rule_name(result.expectation_config): result for result in validated}
    outcomes = []
    for rule in rules:
        name = rule_name(rule)
        if name in batch.skipped:
            outcomes.append(ExpectationResult(name=name, expectation=rule.expectation_type,
                                              severity=severity_of(rule), success=True, notes=rule.notes or "",
                                              note=batch.skipped[name], skipped=True))
        elif passed and name in passed:
            outcomes.append(passed[name])
        else:
            outcomes.append(expectation_result(by_rule[name], batch))
    return SuiteResult(asset=info.asset, partition=partition, suite=info.suite_name,
                       success=all(outcome.success for outcome in outcomes), expectations=tuple(outcomes),
                       facts=plain(batch.facts), seconds=round(seconds, 3), run_name=run_name,
                       docs_page=docs_page)


def expectation_result(result: Any, batch: Batch) -> ExpectationResult:
    config = result.expectation_config
    details = result.result or {}
    note = None
    if result.exception_info and result.exception_info.get("raised_exception"):
        note = f"the expectation could not be evaluated: {result.exception_info.get('exception_message')}"
    is_row_rule = "unexpected_count" in details
    return ExpectationResult(
        name=rule_name(config), expectation=config.type, severity=severity_of(config),
        success=bool(result.success),
        observed=plain(details.get("unexpected_count") if is_row_rule else details.get("observed_value")),
        expected=expected_of(config),
        element_count=details.get("element_count") if is_row_rule else None,
        unexpected_count=details.get("unexpected_count") if is_row_rule else None,
        unexpected_percent=(round(float(details.get("unexpected_percent") or 0.0), 4) if is_row_rule else None),
        sample=sample(result, batch), notes=config.notes or "", note=note)


def expected_of(config: Any) -> dict[str, Any]:
    """The bounds or set an expectation checks against."""
    return plain({key: config.kwargs[key] for key in EXPECTED_KEYS if config.kwargs.get(key) is not None})


def sample(result: Any, batch: Batch) -> list[dict[str, Any]]:
    """Up to ``SAMPLE_ROWS`` offending rows as plain dicts: the rows Great Expectations found unexpected,
    or, for a failed aggregate, the rows at the end of the distribution that moved."""
    config = result.expectation_config
    frame = batch.frame
    own = [config.kwargs[key] for key in ("column", "column_A", "column_B") if config.kwargs.get(key)]
    wanted = list(dict.fromkeys([*own, *sample_columns_of(config), *batch.sample_columns]))
    index = (result.result or {}).get("partial_unexpected_index_list") or []
    if index:
        picked = [i for i in index[:SAMPLE_ROWS] if i in frame.index]
    elif not result.success and config.type in AGGREGATES and own:
        picked = _extremes(frame[own[0]], _moved_up(result))
    else:
        return []
    rows = frame.loc[picked, [c for c in wanted if c in frame.columns]]
    if batch.details is not None:
        shown = [c for c in wanted if c in batch.details.columns and c not in rows.columns]
        rows = rows.join(batch.details.loc[picked, shown])
    return [plain(row) for row in rows[[c for c in wanted if c in rows.columns]].to_dict("records")]


def _moved_up(result: Any) -> bool:
    """Whether a failed aggregate lies above its bounds (else below)."""
    observed = (result.result or {}).get("observed_value")
    high = result.expectation_config.kwargs.get("max_value")
    return observed is not None and high is not None and observed > high


def _extremes(values: pd.Series, largest: bool) -> list:
    """The index of the ``SAMPLE_ROWS`` largest (or smallest) values."""
    values = values.dropna()
    return list((values.nlargest(SAMPLE_ROWS) if largest else values.nsmallest(SAMPLE_ROWS)).index)
