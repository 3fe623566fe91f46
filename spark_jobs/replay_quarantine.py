"""Re-process what the lake job quarantined, after a fix (of the code, or of a setting such as
``ANALYTICS_MAX_LATENESS_DAYS``).

    python -m spark_jobs.replay_quarantine [--received-date YYYY-MM-DD …]

The landing zone keeps every line, so replaying arrival day R is compacting R again with today's code and
settings: accepted lines move from ``quarantine/lake/received_date=R/`` to bronze, deduplicated as
always, and what still fails stays in quarantine with its reason. Without ``--received-date`` every day
that has quarantined lines is replayed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from analytics_settings import Settings, load_settings
from spark_jobs.compact import compact_arrival_days
from spark_jobs.job_cli import add_report_option, emit_report, utc_day
from spark_jobs.lake_fs import LakeFileSystem
from spark_jobs.session import spark_session


@dataclass
class ReplayReport:
    received_dates: list[str]
    quarantined_before: dict[str, int] = field(default_factory=dict)
    quarantined_after: dict[str, int] = field(default_factory=dict)
    recovered: dict[str, int] = field(default_factory=dict)


def quarantined_days(spark: SparkSession, lake: LakeFileSystem) -> dict[str, int]:
    """Arrival days with quarantined lines, and how many."""
    days = {}
    for folder in lake.glob(lake.uri("quarantine", "lake", "received_date=*")):
        count = spark.read.text(folder).count()
        if count:
            days[folder.rsplit("received_date=", 1)[1]] = count
    return days


def replay(spark: SparkSession, settings: Settings, received_dates: list[str] | None = None) -> ReplayReport:
    lake = LakeFileSystem(spark, settings.lake_root)
    before = quarantined_days(spark, lake)
    days = received_dates or sorted(before)
    results = compact_arrival_days(spark, days, settings) if days else []
    report = ReplayReport([result.received_date for result in results])
    for result in results:  # in one pass, as replaying the days one by one in date order would
        day = result.received_date
        report.quarantined_before[day] = before.get(day, 0)
        report.quarantined_after[day] = sum(result.quarantined.values())
        report.recovered[day] = report.quarantined_before[day] - report.quarantined_after[day]
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.replay_quarantine",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--received-date", action="append", type=utc_day,
                        help="an arrival day to replay (default: all)")
    add_report_option(parser)
    args = parser.parse_args(argv)
    settings = load_settings()
    spark, _ = spark_session(settings, "replay quarantine")
    try:
        report = replay(spark, settings, args.received_date)
    finally:
        spark.stop()
    return emit_report(report, args.report)


if __name__ == "__main__":
    sys.exit(main())
