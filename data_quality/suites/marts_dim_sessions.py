"""marts/dim_sessions: how the sessions of day D are distributed, against the 28 days before D.

dbt already tests what fixed rules can say about sessions (a unique session_id, a duration between 0 and
24 h, at least one event, sessions that never overlap). What it cannot say is "unlike the last four
weeks": a sessionization bug that doubles durations, a tracker release that fires every event twice,
revenue sent in cents. Each metric of the day's human sessions (bots excluded) has two rules: its median
(the typical session) and its mean (which the tail moves), each against the range that statistic takes on
samples of the same size drawn from the previous 28 days (``history.bootstrap_band``), so a small day gets
a wide band and a big day a narrow one. A last rule counts the day's orders whose currency has no exchange
rate (``unconverted_purchases``): the warehouse leaves them out of every revenue figure rather than add
their amounts unconverted, and this says how many. (Great Expectations' quantile expectation cannot be stored in
1.24.1: its result carries NumPy booleans that its own JSON store rejects.) These are
warnings: a real change (a sale, a redesign) moves them too.

The batch reads the served warehouse (``settings.served_warehouse``); to check a build copy before it is
published, pass settings whose ``warehouse_path`` is that copy.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import great_expectations.expectations as gxe
import numpy as np

from analytics_settings import Settings
from data_quality.batch import Batch
from data_quality.history import bootstrap_band
from data_quality.lake import connection, frame
from data_quality.rules import parameter, rule

ASSET = "marts/dim_sessions"

HISTORY_DAYS = 28
MIN_HISTORY_DAYS = 7
MIN_HISTORY_VALUES = 10
HISTORY_SAMPLE = 200_000  # history values drawn per metric (a reservoir sample): plenty for any band
SAMPLE_COLUMNS = ("session_id", "session_start", "duration_seconds", "events", "purchases", "revenue",
                  "unconverted_purchases")
CONVERTED = "purchases - unconverted_purchases"  # the purchases `revenue` adds up (converted ones)
# column → (rule prefix, what it is, which sessions have it, the statistics checked). Revenue per purchase
# has no mean rule: one large order moves the mean of a small day far; its median still catches a unit
# change (cents) or a doubled amount.
METRICS = {
    "duration_seconds": ("session_duration", "session duration in seconds", "TRUE", ("median", "mean")),
    "events": ("events_per_session", "events per session", "TRUE", ("median", "mean")),
    "revenue_per_purchase": ("revenue_per_purchase", "revenue per purchase, of the sessions with purchases",
                             f"{CONVERTED} > 0", ("median",)),
}
STATISTICS = {"median": (gxe.ExpectColumnMedianToBeBetween, np.median),
              "mean": (gxe.ExpectColumnMeanToBeBetween, np.mean)}


def expectations() -> list:
    return [
        rule(ASSET, kind, f"{prefix}_{statistic}", column=column, min_value=parameter(f"{column}_{statistic}_min"),
                max_value=parameter(f"{column}_{statistic}_max"),
                notes=f"The {statistic} of the day's {what} is within the range it takes on same-size samples "
                      f"of the previous {HISTORY_DAYS} days (99.9% of 2,000 bootstrap samples, widened by 25%). "
                      f"Skipped with fewer than {MIN_HISTORY_DAYS} days or {MIN_HISTORY_VALUES} values of "
                      "history, or no value on the day.")
        for column, (prefix, what, _, statistics) in METRICS.items()
        for statistic, (kind, _) in STATISTICS.items() if statistic in statistics
    ] + [
        rule(ASSET, gxe.ExpectColumnSumToBeBetween, "orders_in_unknown_currency", column="unconverted_purchases",
             max_value=0,
             notes="No order of the day is in a currency without an exchange rate on its day; the observed "
                   "value is the number of such orders, left out of every revenue figure. Fix: add the "
                   "currency's rates with ANALYTICS_EXCHANGE_RATES_PATH and rebuild with --full-refresh. "
                   "Skipped on a day without sessions."),
    ]


def load(day: date, settings: Settings) -> Batch:
    with connection(settings, settings.served_warehouse) as con:
        rows, _ = frame(con, f"""
            SELECT session_id, session_start, duration_seconds, events, purchases, revenue::DOUBLE AS revenue,
                   unconverted_purchases,
                   CASE WHEN {CONVERTED} > 0 THEN revenue::DOUBLE / ({CONVERTED}) END AS revenue_per_purchase
            FROM marts.dim_sessions
            WHERE session_date = ? AND NOT is_bot
            ORDER BY session_start, session_id
        """, params=[day])
        start = day - timedelta(days=HISTORY_DAYS)
        [(history_days,)] = con.execute(
            "SELECT count(DISTINCT session_date) FROM marts.dim_sessions WHERE session_date >= ? AND session_date < ?",
            [start, day]).fetchall()
        parameters = {}
        skipped = {} if len(rows) else {"orders_in_unknown_currency": f"no human session on {day}"}
        facts = {"sessions": len(rows), "history_from": start.isoformat(), "history_days": history_days}
        for column, (prefix, _, condition, statistics) in METRICS.items():
            values = rows[column].dropna().to_numpy(dtype=float)
            history = _history(con, column, condition, start, day)
            facts[f"{column}_values"] = {"day": len(values), "history": len(history)}
            if history_days < MIN_HISTORY_DAYS or len(history) < MIN_HISTORY_VALUES or not len(values):
                why = (f"{len(values)} values on {day}, {len(history)} in {history_days} days of history (needs a "
                       f"value on the day, {MIN_HISTORY_DAYS} days and {MIN_HISTORY_VALUES} values of history)")
                skipped.update({f"{prefix}_{statistic}": why for statistic in statistics})
                continue
            for statistic in statistics:
                low, high = bootstrap_band(history, len(values), STATISTICS[statistic][1])
                parameters[f"{column}_{statistic}_min"], parameters[f"{column}_{statistic}_max"] = low, high
    return Batch(rows, parameters, skipped, facts, SAMPLE_COLUMNS)


def _history(con: duckdb.DuckDBPyConnection, column: str, condition: str, start: date, day: date) -> np.ndarray:
    expression = (f"revenue::DOUBLE / ({CONVERTED})" if column == "revenue_per_purchase" else f"{column}::DOUBLE")
    # the sample is taken from the subquery: DuckDB samples a FROM clause before its WHERE
    rows = con.execute(f"""
        SELECT value FROM (
            SELECT {expression} AS value FROM marts.dim_sessions
            WHERE session_date >= ? AND session_date < ? AND NOT is_bot AND {condition}
        ) USING SAMPLE reservoir({HISTORY_SAMPLE} ROWS) REPEATABLE (7)
    """, [start, day]).fetchnumpy()
    return np.asarray(rows["value"], dtype=float)
