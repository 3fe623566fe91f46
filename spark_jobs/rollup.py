"""Daily rollups of bronze into gold, which dbt reads as a source.

    python -m spark_jobs.rollup --event-date YYYY-MM-DD [--event-date …] [--report report.json]

``gold/daily_event_rollup/event_date=D/`` holds, per event name, country and device type, the events,
the distinct identities (``user_id``, else ``anonymous_id``; before identity stitching) and the revenue of
day D over every arrival day. Compacting arrival day R changes the event days its events belong to, so
those days are rolled up again (the lake job reports them); each day's folder is replaced by rename.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from analytics_settings import Settings, load_settings
from spark_jobs.lake_fs import LakeFileSystem
from spark_jobs.session import spark_session

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
    started = time.perf_counter()
    spark, startup = spark_session(settings, f"rollup {len(event_dates)} days")
    try:
        report = rollup_days(spark, event_dates, settings)
    finally:
        spark.stop()
    report.spark_startup_seconds = round(startup, 2)
    report.seconds = round(time.perf_counter() - started, 2)
    return report


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
    parser.add_argument("--event-date", action="append", required=True, help="a day to roll up, YYYY-MM-DD")
    parser.add_argument("--report", help="also write the report (JSON) to this file")
    args = parser.parse_args(argv)
    for value in args.event_date:
        try:
            date.fromisoformat(value)
        except ValueError:
            parser.error(f"--event-date {value!r} is not a date; use YYYY-MM-DD")
    report = asdict(rollup(args.event_date))
    if args.report:
        with open(args.report, "w") as handle:
            json.dump(report, handle, indent=2)
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
