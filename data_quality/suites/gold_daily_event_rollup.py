"""gold/daily_event_rollup: Spark's rollup of the event days an arrival day touched, against bronze.

For arrival day R the batch is one row per (event day, event name, country, device type) of every event day
that has a ``received_date=R`` folder in bronze (the days the rollup recomputed), plus gold days left
without any bronze, with the rollup's events and revenue next to bronze's (all arrivals of the day). A
group missing on one side has zeros there. Distinct users are not compared: recounting them costs as much
as the rollup itself (dbt checks they never exceed the events).
"""

from __future__ import annotations

from datetime import date

import great_expectations.expectations as gxe

from analytics_settings import Settings
from data_quality.batch import Batch
from data_quality.lake import connection, file_list, frame, glob, lake_uri
from data_quality.rules import rule

ASSET = "gold/daily_event_rollup"

REVENUE_TOLERANCE = 0.005  # half a cent: Spark and DuckDB add the same doubles in different orders
GROUP = ("event_date", "event_name", "country", "device_type")
SAMPLE_COLUMNS = GROUP


def expectations() -> list:
    return [
        rule(ASSET, gxe.ExpectColumnPairValuesToBeEqual, "events_equal_bronze", column_A="gold_events",
                 column_B="bronze_events",
                 notes="Every group's event count equals the bronze rows of that event day, name, country "
                       "and device type (all arrival days), so the day totals do too. A difference means "
                       "the rollup ran on other bronze than is there now, or missed a day."),
        rule(ASSET, gxe.ExpectColumnValuesToBeBetween, "revenue_equals_bronze", column="revenue_difference",
                 min_value=-REVENUE_TOLERANCE, max_value=REVENUE_TOLERANCE,
                 sample_columns=("gold_revenue", "bronze_revenue"),
                 notes="Every group's revenue equals the sum of bronze revenue (within half a cent of "
                       "floating-point order)."),
    ]


def load(day: date, settings: Settings) -> Batch:
    with connection(settings) as con:
        bronze_root = lake_uri(settings, "bronze", "events")
        touched = {_event_date(path) for path in glob(con, f"{bronze_root}/event_date=*/received_date={day}/*.parquet")}
        gold_days = {_event_date(path) for path in
                     glob(con, lake_uri(settings, "gold", "daily_event_rollup", "event_date=*", "*.parquet"))}
        bronze_days = {_event_date(path) for path in glob(con, f"{bronze_root}/event_date=*/received_date=*/*.parquet")}
        event_dates = sorted(touched | (gold_days - bronze_days))
        bronze = [f for d in event_dates for f in glob(con, f"{bronze_root}/event_date={d}/received_date=*/*.parquet")]
        gold = [f for d in event_dates
                for f in glob(con, lake_uri(settings, "gold", "daily_event_rollup", f"event_date={d}", "*.parquet"))]
        rows, _ = frame(con, f"""
            WITH bronze AS ({_bronze_groups(bronze)}), gold AS ({_gold_groups(gold)})
            SELECT COALESCE(g.event_date, b.event_date) AS event_date,
                   COALESCE(g.event_name, b.event_name) AS event_name,
                   COALESCE(g.country, b.country) AS country,
                   COALESCE(g.device_type, b.device_type) AS device_type,
                   COALESCE(g.events, 0) AS gold_events, COALESCE(b.events, 0) AS bronze_events,
                   COALESCE(g.revenue, 0) AS gold_revenue, COALESCE(b.revenue, 0) AS bronze_revenue,
                   COALESCE(g.revenue, 0) - COALESCE(b.revenue, 0) AS revenue_difference
            FROM gold g FULL OUTER JOIN bronze b
              ON g.event_date = b.event_date AND g.event_name IS NOT DISTINCT FROM b.event_name
             AND g.country IS NOT DISTINCT FROM b.country AND g.device_type IS NOT DISTINCT FROM b.device_type
            ORDER BY ALL
        """, categorical=("event_name", "country", "device_type"))
    facts = {"event_dates": event_dates, "groups": len(rows),
             "gold_events": int(rows["gold_events"].sum()), "bronze_events": int(rows["bronze_events"].sum()),
             "gold_revenue": round(float(rows["gold_revenue"].sum()), 2),
             "bronze_revenue": round(float(rows["bronze_revenue"].sum()), 2)}
    return Batch(rows, facts=facts, sample_columns=SAMPLE_COLUMNS)


def _event_date(path: str) -> str:
    return path.split("event_date=", 1)[1][:10]


def _bronze_groups(files: list[str]) -> str:
    """Bronze aggregated like spark_jobs.rollup: country `unknown` when null, revenue 0 when none."""
    if not files:
        return ("SELECT NULL::DATE AS event_date, NULL::VARCHAR AS event_name, NULL::VARCHAR AS country, "
                "NULL::VARCHAR AS device_type, NULL::BIGINT AS events, NULL::DOUBLE AS revenue LIMIT 0")
    return f"""
        SELECT event_date, event_name, COALESCE(country, 'unknown') AS country, device_type,
               count(*) AS events, COALESCE(sum(revenue), 0) AS revenue
        FROM read_parquet({file_list(files)}, hive_partitioning = true,
                          hive_types = {{'event_date': DATE, 'received_date': DATE}})
        GROUP BY ALL"""


def _gold_groups(files: list[str]) -> str:
    if not files:
        return ("SELECT NULL::DATE AS event_date, NULL::VARCHAR AS event_name, NULL::VARCHAR AS country, "
                "NULL::VARCHAR AS device_type, NULL::BIGINT AS events, NULL::DOUBLE AS revenue LIMIT 0")
    return f"""
        SELECT event_date, event_name, country, device_type, events, revenue
        FROM read_parquet({file_list(files)}, hive_partitioning = true, hive_types = {{'event_date': DATE}})"""
