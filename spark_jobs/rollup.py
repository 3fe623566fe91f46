"""Daily rollups of bronze into gold, which dbt reads as a source.

    python -m spark_jobs.rollup --event-date YYYY-MM-DD [--event-date …] [--report report.json]

``gold/daily_event_rollup/event_date=D/`` holds, per event name, country and device type, the events,
the distinct identities (``user_id``, else ``anonymous_id``; before identity stitching) and the revenue of
day D over every arrival day. Compacting arrival day R changes the event days its events belong to, so
those days are rolled up again (the lake job reports them); each day's folder is replaced by rename.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from analytics_settings import Settings, load_settings
from spark_jobs.job_cli import add_report_option, emit_report, utc_day
from spark_jobs.lake_fs import LakeFileSystem
from spark_jobs.session import run_job

ROLLUP = "daily_event_rollup"


@dataclass
class RollupReport:
    event_dates: list[str]
    rows: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=dict)
    paths: list[str] = field(default_factory=list)
    spark_startup_seconds: float = 0.0
    seconds: float = 0.0


def rollup(event_dates: list[str], settings: Settings | None = None) -> RollupReport:
    settings = settings or load_settings()
    return run_job(settings, f"rollup {len(event_dates)} days", lambda spark: rollup_days(spark, event_dates, settings))


def rollup_days(spark: SparkSession, event_dates: list[str], settings: Settings) -> RollupReport:
    """Roll up ``event_dates`` on an existing session (the tests share one)."""
    report = RollupReport(sorted(set(event_dates)))
    lake = LakeFileSystem(spark, settings.lake_root)
    for event_date in report.event_dates:
        date.fromisoformat(event_date)
        _rollup_day(spark, lake, event_date, report)
    return report


def _rollup_day(spark: SparkSession, lake: LakeFileSystem, event_date: str, report: RollupReport) -> None:
    source = lake.uri("bronze", "events", f"event_date={event_date}")
    target = lake.uri("gold", ROLLUP, f"event_date={event_date}")
    arrivals = lake.glob(f"{source}/received_date=*")
    if not arrivals:
        if lake.exists(target):
            lake.delete(target)
        report.rows[event_date] = report.events[event_date] = 0
        return
    bronze = spark.read.option("basePath", lake.uri("bronze", "events")).parquet(*arrivals)
    daily = (bronze.groupBy("event_name",
                            F.coalesce("country", F.lit("unknown")).alias("country"), "device_type")
             .agg(F.count("*").alias("events"),
                  F.count_distinct(F.coalesce("user_id", "anonymous_id")).alias("unique_users"),
                  F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("revenue"))
             .coalesce(1).sortWithinPartitions("event_name", "country", "device_type"))
    lake.delete_staging(f"gold-{event_date}-")
    staging = lake.staging(f"gold-{event_date}-")
    daily.write.parquet(staging)
    lake.replace_folder(staging, target)
    totals = spark.read.parquet(target).agg(F.count("*"), F.sum("events")).first()
    report.rows[event_date], report.events[event_date] = int(totals[0]), int(totals[1] or 0)
    report.paths.append(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.rollup", description=__doc__.splitlines()[0])
    parser.add_argument("--event-date", action="append", required=True, type=utc_day, help="a day to roll up")
    add_report_option(parser)
    args = parser.parse_args(argv)
    return emit_report(rollup(args.event_date), args.report)


if __name__ == "__main__":
    sys.exit(main())
