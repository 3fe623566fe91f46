"""The lake layer in Dagster: bronze events and gold rollups, partitioned by arrival day (UTC).

Both assets run a job of `spark_jobs/` out of process (see ``SparkJobRunner``) and turn its report into
metadata. They are built by :func:`build_lake_assets` because their partitions start at
``ANALYTICS_PIPELINE_START_DATE``, which is read when the code location loads (see ``definitions.py``).
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotation at definition time and
# does not resolve the string "dg.AssetExecutionContext".

from datetime import date

import dagster as dg

from analytics_settings import load_settings
from lake import BRONZE_EVENTS, GOLD_ROLLUP, LakeReader
from orchestration.collect.assets import landing_events
from orchestration.lake.resources import SparkJobRunner

# Every lake step runs in the pool `lake`, which `make up`'s dagster.yaml limits to one step at a time
# across runs. That is stricter than "never two runs on one partition", and needed: compacting arrival
# day R reads the bronze of the days before it (deduplication) and rolling up event day D reads every
# arrival of D, so even different partitions are not independent. It also keeps two Spark drivers from
# sharing one machine's memory. Cost: backfills run one day at a time (raise the pool's limit on a cluster
# once the jobs tolerate it). The pool serializes but does not order: runs requested together (a backfill,
# a sensor tick at midnight) may compact day R before R-1, which gives the same bronze and gold (compacting
# R-1 drops its ids from R's bronze and names the event days to roll up again; see spark_jobs/compact.py).
LAKE_POOL = "lake"
# Spark jobs fail for passing reasons (a lost executor, a full disk being cleaned); a job that fails for
# good fails three times, 10 s and 20 s apart. Re-running a day is idempotent.
LAKE_RETRY_POLICY = dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
# A backfill (or `make pipeline` catching up) runs its range of days in one run: one Spark session for all
# of them instead of a JVM start per day, in date order.
SINGLE_RUN = dg.BackfillPolicy.single_run()


def arrival_days(start: date) -> dg.DailyPartitionsDefinition:
    """Daily UTC partitions from ``start``; ``end_offset=1`` makes today's (still filling) day exist."""
    return dg.DailyPartitionsDefinition(start_date=start.isoformat(), timezone="UTC", end_offset=1)


def build_lake_assets(partitions_def: dg.DailyPartitionsDefinition) -> list[dg.AssetsDefinition]:
    @dg.asset(key=["bronze", "events"], deps=[landing_events], partitions_def=partitions_def, group_name="lake",
              kinds={"spark", "parquet"}, retry_policy=LAKE_RETRY_POLICY, pool=LAKE_POOL,
              backfill_policy=SINGLE_RUN)
    def bronze_events(context: dg.AssetExecutionContext, spark: SparkJobRunner) -> dg.MaterializeResult:
        """Events as Parquet under `lake/bronze/events/event_date=D/received_date=R/`, one partition per arrival day R.

        `spark_jobs.compact` reads the day's sealed landing files, keeps one row per messageId (also
        against earlier arrival days), corrects event time for client clock skew, enriches (event names,
        UTM, referrer, user agent, bots, country), applies the PII policy and replaces the day's folders.
        Lines it cannot accept go to `lake/quarantine/lake/received_date=R/` with their reason. A range of
        days (a backfill) is compacted in one pass, with the rows compacting its days one by one gives.
        """
        days = context.partition_keys  # one day, or a backfill's range in one Spark job
        report = spark.run(context, "spark_jobs.compact", [arg for day in days for arg in ("--received-date", day)])
        quarantined = report["quarantined"]
        metadata = {
            "dagster/row_count": report["rows_out"],
            "landing_files": report["landing_files"],
            "rows_in": report["rows_in"],
            "rows_out": report["rows_out"],
            "duplicates_within_day": report["duplicates_within_day"],
            "duplicates_across_days": report["duplicates_across_days"],
            "late_events": report["late_events"],
            "clamped_events": report["clamped_events"],
            "offline_queued_events": report["offline_queued_events"],
            "bot_events": report["bot_events"],
            "quarantined_total": sum(quarantined.values()),
            "quarantined_by_reason": dg.MetadataValue.json(quarantined),
            "bytes_written": report["bytes_written"],
            "event_dates": dg.MetadataValue.json(report["event_dates"]),
            "paths": dg.MetadataValue.json(report["bronze_paths"]),
            "path": dg.MetadataValue.path(f"{load_settings().lake_root}/bronze/events"),
            "spark_startup_seconds": report["spark_startup_seconds"],
            "seconds": report["seconds"],
        }
        if report["quarantine_path"]:
            metadata["quarantine_path"] = dg.MetadataValue.path(report["quarantine_path"])
        return dg.MaterializeResult(metadata=metadata)

    @dg.asset(key=["gold", "daily_event_rollup"], deps=[bronze_events], partitions_def=partitions_def,
              group_name="lake", kinds={"spark", "parquet"}, retry_policy=LAKE_RETRY_POLICY, pool=LAKE_POOL,
              backfill_policy=SINGLE_RUN)
    def gold_daily_event_rollup(context: dg.AssetExecutionContext, spark: SparkJobRunner) -> dg.MaterializeResult:
        """Events, distinct identities and revenue per event day, event name, country and device type.

        `lake/gold/daily_event_rollup/event_date=D/`, read by dbt as a source. The partition is the
        arrival day R: the event days that received events on R are rolled up again over all their arrivals.
        """
        lake_root = load_settings().lake_root
        event_dates = sorted({day for arrival in context.partition_keys
                              for day in event_dates_to_roll_up(lake_root, arrival)})
        if not event_dates:
            context.log.info(f"no bronze rows arrived on {', '.join(context.partition_keys)}: nothing to roll up")
            return dg.MaterializeResult(metadata={"dagster/row_count": 0, "event_dates": dg.MetadataValue.json([]),
                                                  "events_total": 0})
        args = [arg for event_date in event_dates for arg in ("--event-date", event_date)]
        report = spark.run(context, "spark_jobs.rollup", args)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": sum(report["rows"].values()),
            "event_dates": dg.MetadataValue.json(report["event_dates"]),
            "rows_by_event_date": dg.MetadataValue.json(report["rows"]),
            "events_by_event_date": dg.MetadataValue.json(report["events"]),
            "events_total": sum(report["events"].values()),
            "paths": dg.MetadataValue.json(report["paths"]),
            "spark_startup_seconds": report["spark_startup_seconds"],
            "seconds": report["seconds"],
        })

    return [bronze_events, gold_daily_event_rollup]


def event_dates_to_roll_up(lake_root: str, received_date: str) -> list[str]:
    """The event days whose bronze has a ``received_date=…`` folder for this arrival day, the event days of later
    arrival days its compaction rewrote (a day compacted after a later one), plus gold days left without any
    bronze (a re-run moved their events away), so their stale rollups are removed. Read through
    ``lake.LakeReader``, so any lake URI works."""
    lake = LakeReader.open(lake_root)
    record = lake.compaction_record(received_date)
    bronze_days = lake.folders(*BRONZE_EVENTS, prefix="event_date=")
    gold_days = lake.folders(*GOLD_ROLLUP, prefix="event_date=")
    arrived = {day for day in bronze_days
               if lake.is_folder(*BRONZE_EVENTS, f"event_date={day}", f"received_date={received_date}")}
    rewritten = set(record.later_event_dates) if record else set()
    return sorted(arrived | rewritten | (set(gold_days) - set(bronze_days)))
