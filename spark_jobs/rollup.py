"""Daily rollups of bronze into gold, which dbt reads as a source.

    python -m spark_jobs.rollup --event-date YYYY-MM-DD [--event-date …] [--report report.json]

``gold/daily_event_rollup/event_date=D/`` holds, per event name, country and device type, the events,
the distinct identities (``user_id``, else ``anonymous_id``; before identity stitching) and the revenue of
day D over every arrival day. Compacting arrival day R changes the event days its events belong to, so
those days are rolled up again (the lake job reports them); each day's folder is replaced by rename. Several
days are rolled up in one pass: one read of their bronze, one write.
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
from warehouse.lock import warehouse_lock

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
    """Roll up ``event_dates`` on an existing session (the tests share one): one read of their bronze, one
    write, then each day's folder replaced by rename (a day without bronze loses its rollup)."""
    report = RollupReport(sorted({date.fromisoformat(day).isoformat() for day in event_dates}))
    if not report.event_dates:
        return report
    lake = LakeFileSystem(spark, settings.lake_root)
    bronze_root = lake.uri("bronze", "events")
    arrivals = [path for day in report.event_dates
                for path in lake.glob(f"{bronze_root}/event_date={day}/received_date=*")]
    lake.delete_crashed_staging("gold", report.event_dates)
    staging = lake.staging("gold", report.event_dates)
    if arrivals:
        bronze = spark.read.option("basePath", bronze_root).parquet(*arrivals)
        # one task (and one file) per day, sorted, so a re-run writes the same bytes
        (bronze.groupBy(F.col("event_date").cast("string").alias("event_date"), "event_name",
                        F.coalesce("country", F.lit("unknown")).alias("country"), "device_type")
         .agg(F.count("*").alias("events"),
              F.count_distinct(F.coalesce("user_id", "anonymous_id")).alias("unique_users"),
              F.coalesce(F.sum("revenue"), F.lit(0.0)).alias("revenue"))
         .repartition("event_date").sortWithinPartitions("event_date", "event_name", "country", "device_type")
         .write.partitionBy("event_date").parquet(staging))
    totals = {day: (int(rows), int(events or 0)) for day, rows, events in (
        spark.read.parquet(staging).groupBy(F.col("event_date").cast("string")).agg(F.count("*"), F.sum("events"))
        .collect() if lake.list_dirs(staging) else [])}
    # under the warehouse lock, so a dbt build reads each day's rollup wholly old or wholly new
    with warehouse_lock(settings, f"commit the gold rollups of event days {', '.join(report.event_dates)}"):
        for day in report.event_dates:
            target = lake.uri("gold", ROLLUP, f"event_date={day}")
            report.rows[day], report.events[day] = totals.get(day, (0, 0))
            if day in totals:
                lake.replace_folder(f"{staging}/event_date={day}", target)
                report.paths.append(target)
            elif lake.exists(target):
                lake.delete(target)
    lake.delete(staging)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.rollup", description=__doc__.splitlines()[0])
    parser.add_argument("--event-date", action="append", required=True, type=utc_day, help="a day to roll up")
    add_report_option(parser)
    args = parser.parse_args(argv)
    return emit_report(rollup(args.event_date), args.report)


if __name__ == "__main__":
    sys.exit(main())
