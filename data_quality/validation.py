"""Validate one partition of an asset: load its batch, run its suite, keep the result, return the verdict."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

import great_expectations as gx

from analytics_settings import Settings, load_settings
from data_quality import execution, outcomes, project
from data_quality.acceptances import acceptances, applied
from data_quality.registry import suite_info
from data_quality.results import SuiteResult, plain
from data_quality.rules import rule_name


def validate(asset: str, partition: str, settings: Settings | None = None) -> SuiteResult:
    """Run the suite of ``asset`` (``"bronze/events"``) on ``partition`` (a day, ``YYYY-MM-DD``).

    The result is also stored in the Great Expectations project under ``<data_dir>/quality/`` (see
    ``build_data_docs``). Blocking failures a person accepted (``data_quality.acceptances``) are marked and
    no longer block. Raises ``KeyError`` for an asset without a suite and ``ValueError`` for a
    partition that is not a day; a rule that cannot be evaluated fails (with the reason in its ``note``).
    """
    info = suite_info(asset)
    day = _day(partition)
    settings = settings or load_settings()
    started = time.perf_counter()
    module = info.load_module()
    batch = module.load(day, settings)
    suite = module.expectations()
    run_id = gx.RunIdentifier(run_name=partition, run_time=datetime.now(UTC))
    validated = execution.run_suite(info.suite_name, [rule for rule in suite if rule_name(rule) not in batch.skipped],
                                    batch, run_id)
    validated.meta["partition"] = partition
    validated.meta["skipped_rules"] = batch.skipped
    validated.meta["facts"] = plain(batch.facts)
    page = project.save(settings, info.suite_name, module.expectations(), validated, run_id, partition)
    result = outcomes.suite_result(info, partition, validated, batch, suite, time.perf_counter() - started,
                                   run_id.run_name, page)
    return applied(result, acceptances(settings))


def _day(partition: str) -> date:
    try:
        return date.fromisoformat(partition)
    except ValueError:
        raise ValueError(f"partition {partition!r} is not a day; pass the UTC day as YYYY-MM-DD, "
                         "e.g. 2024-03-11") from None
