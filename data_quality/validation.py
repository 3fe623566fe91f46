"""Validate the days of an asset: load each day's batch, run the suite over the range, keep the result,
return a verdict per day.

A backfill checks hundreds of small days: run one by one, each paid a Great Expectations context, a
validation and a store write, and Great Expectations' cost per expectation (~0.6 s a day whatever its
size). Over a range, the days' batches are stacked into one frame with a ``partition`` column, and:

- a row rule (a map expectation without bounds of its own day) is validated once over the whole range: when
  no row of the range offends, no day's does, and each day passes with its row count;
- the others (bounds from the day's history, aggregates) and a row rule some rows offend are repeated per
  day under the row condition ``partition == day``, with that day's bounds as suite parameters.

So a day gets exactly the verdict a run of that day alone gives, in two validations for the range. Days
are stacked up to ``MAX_ROWS`` rows per validation, so a range of big days costs the memory of about one.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from types import ModuleType

import great_expectations as gx
import pandas as pd
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.row_conditions import Column

from analytics_settings import Settings, load_settings
from data_quality import execution, outcomes, project
from data_quality.acceptances import acceptances, applied
from data_quality.batch import Batch
from data_quality.registry import SuiteInfo, suite_info
from data_quality.results import ExpectationResult, SuiteResult, plain
from data_quality.rules import rule_name, severity_of

MAX_ROWS = 2_000_000
PARTITION = "partition"


def validate(asset: str, partition: str, settings: Settings | None = None) -> SuiteResult:
    """Run the suite of ``asset`` (``"bronze/events"``) on ``partition`` (a day, ``YYYY-MM-DD``).

    The result is also stored in the Great Expectations project under ``<data_dir>/quality/`` (see
    ``build_data_docs``). Blocking failures a person accepted (``data_quality.acceptances``) are marked and
    no longer block. Raises ``KeyError`` for an asset without a suite and ``ValueError`` for a
    partition that is not a day; a rule that cannot be evaluated fails (with the reason in its ``note``).
    """
    [result] = validate_days(asset, [partition], settings)
    return result


def validate_days(asset: str, partitions: list[str], settings: Settings | None = None) -> list[SuiteResult]:
    """``validate`` of each of ``partitions``, in one pass per ``MAX_ROWS`` rows; the results in the
    order of ``partitions``."""
    info = suite_info(asset)
    days = [_day(partition) for partition in partitions]
    settings = settings or load_settings()
    module = info.load_module()
    found = acceptances(settings)
    return [applied(result, found) for group in _groups(module, days, settings)
            for result in _validate_group(info, module, group, settings)]


def _groups(module: ModuleType, days: list[date], settings: Settings) -> Iterator[list[tuple[str, Batch, float]]]:
    """The days' batches (with the seconds each took to load), in groups of at most ``MAX_ROWS`` rows (a
    bigger day alone)."""
    group: list[tuple[str, Batch, float]] = []
    rows = 0
    for day in days:
        started = time.perf_counter()
        batch = module.load(day, settings)
        if group and rows + len(batch.frame) > MAX_ROWS:
            yield group
            group, rows = [], 0
        group.append((day.isoformat(), batch, time.perf_counter() - started))
        rows += len(batch.frame)
    if group:
        yield group


def _validate_group(info: SuiteInfo, module: ModuleType, group: list[tuple[str, Batch, float]],
                    settings: Settings) -> list[SuiteResult]:
    started = time.perf_counter()
    partitions = [partition for partition, _, _ in group]
    span = partitions[0] if len(partitions) == 1 else f"{partitions[0]}..{partitions[-1]}"
    stacked = _stack(group)
    run_id = gx.RunIdentifier(run_name=span, run_time=datetime.now(UTC))
    skipped = set().union(*(batch.skipped for _, batch, _ in group))
    whole = [rule for rule in module.expectations() if len(group) > 1 and _is_row_rule(rule, skipped)]
    clean = set()
    if whole:
        ranged = execution.run_suite(info.suite_name, whole, stacked, run_id)
        clean = {rule_name(r.expectation_config) for r in ranged.results
                 if r.success and not (r.result or {}).get("unexpected_count")
                 and not (r.exception_info or {}).get("raised_exception")}
    per_day = [_for_day(rule, partition) for partition, batch, _ in group for rule in module.expectations()
               if rule_name(rule) not in batch.skipped and rule_name(rule) not in clean]
    validated = execution.run_suite(info.suite_name, per_day, stacked, run_id)
    if clean:
        validated.results.extend(r for r in ranged.results if rule_name(r.expectation_config) in clean)
    validated.meta["partition"] = span
    validated.meta["skipped_rules"] = {partition: batch.skipped for partition, batch, _ in group}
    validated.meta["facts"] = plain({partition: batch.facts for partition, batch, _ in group})
    if len(group) == 1:  # stored as before: the day's skipped rules and facts at the top
        validated.meta["skipped_rules"], validated.meta["facts"] = group[0][1].skipped, plain(group[0][1].facts)
    suite = module.expectations()
    page = project.save(settings, info.suite_name, suite, validated, run_id, span)
    shared = (time.perf_counter() - started) / len(group)  # the validations' cost, spread over their days
    results = []
    for partition, batch, loading in group:
        day_results = [r for r in validated.results if r.expectation_config.meta.get(PARTITION) == partition]
        passed = {rule_name(r.expectation_config): _passed(r, len(batch.frame)) for r in validated.results
                  if rule_name(r.expectation_config) in clean}
        shown = Batch(stacked.frame, skipped=batch.skipped, facts=batch.facts, sample_columns=batch.sample_columns,
                      details=stacked.details)
        results.append(outcomes.suite_result(info, partition, day_results, shown, suite, loading + shared,
                                             run_id.run_name, page, passed))
    return results


def _is_row_rule(rule, skipped: set[str]) -> bool:
    """A rule row by row, with no bound of its own day: validated over the range, clean days need no run."""
    return (isinstance(rule, (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation))
            and rule_name(rule) not in skipped
            and not any(isinstance(v, dict) and "$PARAMETER" in v for v in rule.configuration.kwargs.values()))


def _passed(ranged, rows: int) -> ExpectationResult:
    """What a day's own run of a row rule gives when none of its ``rows`` offends."""
    config = ranged.expectation_config
    return ExpectationResult(name=rule_name(config), expectation=config.type, severity=severity_of(config),
                             success=True, observed=0, expected=outcomes.expected_of(config), element_count=rows,
                             unexpected_count=0, unexpected_percent=0.0, notes=config.notes or "")


def _for_day(rule, partition: str):
    """``rule`` restricted to the rows of ``partition``, with that day's suite parameters."""
    only_day = Column(PARTITION) == partition
    rule.row_condition = only_day if rule.row_condition is None else rule.row_condition & only_day
    for key, value in rule.configuration.kwargs.items():
        if isinstance(value, dict) and "$PARAMETER" in value:
            setattr(rule, key, {"$PARAMETER": _parameter(value["$PARAMETER"], partition)})
    rule.meta = {**(rule.meta or {}), PARTITION: partition}
    return rule


def _parameter(name: str, partition: str) -> str:
    return f"{name}__{partition.replace('-', '')}"  # suite parameter names are identifiers


def _stack(group: list[tuple[str, Batch, float]]) -> Batch:
    """One frame of the days' rows with their ``partition`` (categoricals keep one set of categories), the
    details aligned with it, and every day's suite parameters under names of their own."""
    frames = [batch.frame.assign(**{PARTITION: partition}) for partition, batch, _ in group]
    details = [batch.details for _, batch, _ in group]
    parameters = {_parameter(name, partition): value for partition, batch, _ in group
                  for name, value in batch.parameters.items()}
    return Batch(_concat(frames).astype({PARTITION: "category"}), parameters,
                 details=None if details[0] is None else _concat(details))


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    if len(frames) == 1:
        return frames[0].reset_index(drop=True)
    for column in frames[0].columns:
        if isinstance(frames[0][column].dtype, pd.CategoricalDtype):
            categories = frames[0][column].cat.categories
            for frame in frames[1:]:
                categories = categories.union(frame[column].cat.categories)
            frames = [frame.assign(**{column: frame[column].cat.set_categories(categories)}) for frame in frames]
    return pd.concat(frames, ignore_index=True)


def _day(partition: str) -> date:
    try:
        return date.fromisoformat(partition)
    except ValueError:
        raise ValueError(f"partition {partition!r} is not a day; pass the UTC day as YYYY-MM-DD, "
                         "e.g. 2024-03-11") from None
