"""Quality in Dagster: each suite of `data_quality` a blocking check on its asset, and a freshness check per layer.

A suite's check (named ``quality``) validates the arrival days of its run in one pass, right after its asset. When a
blocking expectation failed on any of them the result has severity ERROR and Dagster does not run what
depends on the asset in that run; when only warnings failed it is a WARN and the run goes on. The result
lists each failed expectation with the observed value, the bounds and a sample of offending rows, and links
the run's data docs pages (the site is updated after every check).

A blocked day a person accepts (the job ``accept_quality_failure``, or ``python -m data_quality accept``) passes
its check on the next run, with who accepted it, when and why in the metadata (``accepted``).

The freshness checks (named ``freshness``, WARN) run every 15 minutes in their own job, not in the daily one.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation.

import warnings

import dagster as dg
from pydantic import Field

from analytics_settings import Settings, load_settings
from data_quality import SUITES, SuiteInfo, SuiteResult, build_data_docs, validate_days
from data_quality.acceptances import accept
from data_quality.freshness import FRESHNESS
from lake import LakeReader

QUALITY_CHECK = "quality"
FRESHNESS_CHECK = "freshness"
# The sessions suite compares one session day with the four weeks before it: a run checks the newest day it
# loaded (a backfill's earlier days were checked when they were the newest, and would cost a suite each).
NEWEST_DAY_ONLY = {"marts/dim_sessions"}
# The landing zone is an observable source asset without partitions, so its check has none either; it still
# validates the arrival days of the run it is part of.
UNPARTITIONED = {"landing/events"}
SAMPLE_ROWS_SHOWN = 5


def freshness_check_keys() -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(dg.AssetKey.from_user_string(asset), FRESHNESS_CHECK) for asset in FRESHNESS]


def quality_checks(partitions_def: dg.PartitionsDefinition) -> list[dg.AssetChecksDefinition]:
    with warnings.catch_warnings():  # partitioned asset checks are a Dagster preview; they work as documented
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return [_quality_check(info, partitions_def) for info in SUITES.values()]


def _quality_check(info: SuiteInfo, partitions_def: dg.PartitionsDefinition) -> dg.AssetChecksDefinition:
    @dg.asset_check(asset=dg.AssetKey(info.asset_key_path), name=QUALITY_CHECK, blocking=True,
                    partitions_def=None if info.asset in UNPARTITIONED else partitions_def,
                    description=f"Great Expectations suite `{info.suite_name}`: {info.description} "
                                f"Partition: {info.partition}.")
    def quality(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        settings = load_settings()
        days = _run_days(context, settings)
        days = days[-1:] if info.asset in NEWEST_DAY_ONLY else days
        results = validate_days(info.asset, days, settings)  # a backfill's range in one pass
        for result in results:
            context.log.info(f"{info.asset} {result.partition}: {'passed' if result.success else result.severity} "
                             f"in {result.seconds:.1f} s")
        index = build_data_docs(settings)
        return check_result(results, str(index))

    return quality


def _run_days(context: dg.AssetCheckExecutionContext, settings: Settings) -> list[str]:
    """The run's arrival days; for a check run on its own (from the UI, without a partition), the newest one
    landed."""
    if context.has_partition_key or context.has_partition_key_range:
        return context.partition_keys
    landed = LakeReader.open(settings.lake_root).sealed_landing_files()
    if not landed:
        raise dg.Failure(f"no partition given and nothing landed under {settings.lake_root}: "
                         "run the check with a partition (an arrival day)")
    return [max(landed)]


def check_result(results: list[SuiteResult], docs_index: str) -> dg.AssetCheckResult:
    """One check result for the suite's verdicts on the run's days: ERROR when a blocking expectation failed."""
    failed = [(result.partition, expectation) for result in results for expectation in result.expectations
              if not expectation.success and not expectation.accepted]
    accepted = [(result.partition, expectation) for result in results for expectation in result.accepted_failures]
    blocking = any(expectation.severity == "blocking" for _, expectation in failed)
    days = [result.partition for result in results]
    if failed:
        description = "; ".join(f"{day} {expectation.summary}" for day, expectation in failed[:3])
        description += f" (and {len(failed) - 3} more)" if len(failed) > 3 else ""
    else:
        skipped = sum(e.skipped for result in results for e in result.expectations)
        evaluated = sum(len(result.expectations) for result in results) - skipped - len(accepted)
        description = f"{evaluated} expectations passed on {_span(days)}" + (f" ({skipped} skipped)" if skipped else "")
        description += "".join(f"; {day} {expectation.summary}" for day, expectation in accepted)
    metadata = {
        "days": dg.MetadataValue.json(days),
        "failed_expectations": len(failed),
        "blocking_failures": sum(expectation.severity == "blocking" for _, expectation in failed),
        "verdicts": dg.MetadataValue.md(_verdicts_table(results)),
        "data_docs": dg.MetadataValue.path(docs_index),
        "data_docs_pages": dg.MetadataValue.json({r.partition: r.docs_page for r in results}),
        "facts": dg.MetadataValue.json({r.partition: r.facts for r in results}),
        "seconds": round(sum(result.seconds for result in results), 2),
    }
    if failed:
        metadata["offending_rows"] = dg.MetadataValue.md(_samples(failed))
    if accepted:
        metadata["accepted"] = dg.MetadataValue.md(_acceptances_table(accepted))
    return dg.AssetCheckResult(
        passed=not failed, description=description, metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR if blocking else dg.AssetCheckSeverity.WARN)


def _verdicts_table(results: list[SuiteResult]) -> str:
    lines = ["| day | expectation | severity | verdict | observed | expected |", "|---|---|---|---|---|---|"]
    for result in results:
        for e in result.expectations:
            verdict = ("skipped" if e.skipped else "passed" if e.success
                       else f"accepted by {e.accepted['by']}" if e.accepted else "**FAILED**")
            observed = e.note if e.skipped else (
                f"{e.unexpected_count:,} of {e.element_count or 0:,} rows" if e.unexpected_count is not None
                else e.observed)
            expected = ", ".join(f"{key} {value}" for key, value in e.expected.items())
            lines.append(f"| {result.partition} | {e.name} | {e.severity} | {verdict} | {_cell(observed)} | "
                         f"{_cell(expected)} |")
    return "\n".join(lines)


def _acceptances_table(accepted: list) -> str:
    lines = ["| day | expectation | accepted by | at | reason |", "|---|---|---|---|---|"]
    lines += [f"| {day} | {e.name} | {_cell(e.accepted['by'])} | {e.accepted['at']} | {_cell(e.accepted['reason'])} |"
              for day, e in accepted]
    return "\n".join(lines)


def _samples(failed: list) -> str:
    sections = []
    for day, expectation in failed:
        rows = expectation.sample[:SAMPLE_ROWS_SHOWN]
        sections.append(f"**{day} {expectation.name}** ({expectation.severity}): {expectation.notes}")
        if rows:
            columns = list(dict.fromkeys(column for row in rows for column in row))
            sections.append("| " + " | ".join(columns) + " |\n|" + "---|" * len(columns))
            sections[-1] += "".join("\n| " + " | ".join(_cell(row.get(c)) for c in columns) + " |" for row in rows)
    return "\n\n".join(sections)


def _cell(value: object) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def _span(days: list[str]) -> str:
    return days[0] if len(days) == 1 else f"{len(days)} days {days[0]}..{days[-1]}"


def freshness_checks() -> list[dg.AssetChecksDefinition]:
    return [_freshness_check(asset) for asset in FRESHNESS]


def _freshness_check(asset: str) -> dg.AssetChecksDefinition:
    measure = FRESHNESS[asset]

    @dg.asset_check(asset=dg.AssetKey.from_user_string(asset), name=FRESHNESS_CHECK,
                    description=measure.__doc__)
    def freshness(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        state = measure(load_settings())
        metadata = {"max_lag_hours": round(state.max_lag.total_seconds() / 3600, 2), "detail": state.detail}
        if state.newest is not None:
            metadata["newest"] = dg.MetadataValue.timestamp(state.newest)
            metadata["lag_hours"] = round(state.lag.total_seconds() / 3600, 2)
        return dg.AssetCheckResult(passed=state.fresh, description=state.summary, metadata=metadata,
                                   severity=dg.AssetCheckSeverity.WARN)

    return freshness


freshness_job = dg.define_asset_job(
    "freshness", selection=dg.AssetSelection.checks(*freshness_check_keys()), executor_def=dg.in_process_executor,
    description="Is each layer fresh: landing receives data, bronze and the warehouse hold yesterday's arrivals.")
freshness_schedule = dg.ScheduleDefinition(
    job=freshness_job, cron_schedule="*/15 * * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 15 minutes: the freshness check of each layer.")


class QualityAcceptance(dg.Config):
    """Who accepts the blocking failures of an asset's quality check on a day, and why."""

    asset: str = Field(description=f"the checked asset: {', '.join(SUITES)}")
    day: str = Field(description="the blocked day, YYYY-MM-DD (the run's arrival day; the session day for marts)")
    reason: str = Field(description="why the day's data may go on as it is")
    by: str = Field(description="who accepts (your name)")
    rules: list[str] = Field(default=[], description="only these blocking rules (empty: every blocking rule)")


@dg.op(description="Record that a person accepts a blocked day's quality failures (who, when, why). Then "
                   "re-execute the day's run: its check passes and shows the acceptance.")
def record_acceptance(context: dg.OpExecutionContext, config: QualityAcceptance) -> dg.Output:
    try:
        accepted = accept(load_settings(), config.asset, config.day, config.reason, config.by, tuple(config.rules))
    except (KeyError, ValueError) as error:
        raise dg.Failure(str(error).strip('"')) from None
    context.log.info(f"{accepted.asset} {accepted.day}: {accepted.summary}")
    return dg.Output(None, metadata={"asset": accepted.asset, "day": accepted.day, "by": accepted.by,
                                     "at": accepted.at, "reason": accepted.reason,
                                     "rules": ", ".join(accepted.rules) or "every blocking rule"})


@dg.job(name="accept_quality_failure", description="Accept a blocked day: launch with run config (asset, day, reason, by), then re-execute "
                    "the day's daily run.")
def accept_quality_failure_job():
    record_acceptance()
