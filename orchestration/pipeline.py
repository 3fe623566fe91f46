"""`make pipeline`: bring the warehouse up to date with what has landed, without the UI.

    python -m orchestration.pipeline [--full-refresh]

Finds the arrival days that are not up to date: a sealed landing file their last compaction did not read
(the compaction records it, ``lake.compaction_record``), or no successful run of the daily chain since that
compaction; and runs the chain (Spark compaction, gold rollup, dbt build and publish) for the
range from the first to the last of them in one run, recorded in `make up`'s Dagster instance so it shows
in the UI. Days in between that were already up to date are run again, which is harmless: every step is
idempotent. ``--full-refresh`` also rebuilds every warehouse table from all of bronze.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass

import dagster as dg

from analytics_settings import load_settings
from lake import LakeReader
from orchestration.daily import daily_job
from orchestration.definitions import defs
from orchestration.lake.assets import arrival_days
from orchestration.up import dagster_home

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


@dataclass(frozen=True)
class PipelineResult:
    days: list[str]
    run_id: str | None
    success: bool


def stale_days(instance: dg.DagsterInstance) -> list[str]:
    """Arrival days with a sealed landing file their last compaction did not read, or compacted after the end of
    their last successful chain run (a run whose compaction committed and whose dbt build then failed).

    By file name, not modification time: a file sealed after a run listed its day is read by the next run,
    whatever time its writer gave it.
    """
    settings = load_settings()
    partitions = arrival_days(settings.pipeline_start_date)
    lake = LakeReader.open(settings.lake_root)
    records = lake.compaction_records()
    last_success = _last_successful_run_end(instance)
    landed = set(lake.sealed_landing_files())
    stale = set(lake.unprocessed_landing_files()) | {
        day for day in landed & set(records)
        if last_success.get(day, 0.0) < records[day].compacted_at.timestamp()}
    return sorted(day for day in stale if partitions.has_partition_key(day))


def _last_successful_run_end(instance: dg.DagsterInstance) -> dict[str, float]:
    ended: dict[str, float] = {}
    for record in instance.get_run_records(dg.RunsFilter(job_name=daily_job.name,
                                                         statuses=[dg.DagsterRunStatus.SUCCESS])):
        tags = record.dagster_run.tags
        first = tags.get(RANGE_START, tags.get("dagster/partition"))
        last = tags.get(RANGE_END, first)
        if first is None or record.end_time is None:
            continue
        for day in arrival_days(load_settings().pipeline_start_date).get_partition_keys_in_range(
                dg.PartitionKeyRange(first, last)):
            ended[day] = max(ended.get(day, 0.0), record.end_time)
    return ended


def run_pipeline(instance: dg.DagsterInstance, full_refresh: bool = False) -> PipelineResult:
    """Run the chain over the stale days (all landed days with ``full_refresh``) in one run."""
    days = stale_days(instance)
    if not days:
        return PipelineResult([], None, True)
    job = defs().resolve_job_def(daily_job.name)
    result = job.execute_in_process(
        instance=instance, raise_on_error=False, tags={RANGE_START: days[0], RANGE_END: days[-1]},
        run_config={"ops": {"warehouse": {"config": {"full_refresh": full_refresh}}},
                    "loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    return PipelineResult(days, result.run_id, result.success)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--full-refresh", action="store_true", help="rebuild every warehouse table from bronze")
    args = parser.parse_args(argv)
    settings = load_settings()
    os.environ["DAGSTER_HOME"] = str(dagster_home(settings.data_dir))
    with dg.DagsterInstance.get() as instance:
        result = run_pipeline(instance, args.full_refresh)
    if not result.days:
        print("pipeline: every landed arrival day is up to date; nothing to run")
        return 0
    span = result.days[0] if len(result.days) == 1 else f"{result.days[0]}..{result.days[-1]}"
    if not result.success:
        print(f"pipeline: the run for {span} failed (run {result.run_id}); the served warehouse is unchanged. "
              "Its log is above and in the Dagster UI (make up).", file=sys.stderr)
        return 1
    print(f"pipeline: arrival days {span} are up to date (run {result.run_id}); "
          f"warehouse published at {settings.served_warehouse}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
