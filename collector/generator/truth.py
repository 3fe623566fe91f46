"""Write a run's ground truth: what the generator did, for tests and demos to check the pipeline against.

Layout under ``<data_dir>/generator/<run name>/truth/``:

* ``users.parquet``: one row per visitor (humans and bots), keyed by ``visitor_id``.
* ``sessions.parquet``: one row per session (rules in :mod:`collector.generator.model`), keyed by
  ``session_id``, sorted by visitor and start.
* ``orders.parquet``: one row per ``Order Completed`` event, keyed by ``order_id``: its true time and
  (UTC) day, the amount and currency as sent, and that amount in US dollars (the default reporting
  currency) at the exchange rate of its day, computed here from the warehouse's rates file
  (``dbt_project/seeds/exchange_rates.csv``), independently of the warehouse's SQL: the latest rate on or
  before the day, crossed through the euro, rounded to cents half away from zero.
* ``funnel.json``: ``{"steps": [{"step", "event", "users"}]}``, visitors who reached each step.
* ``anomalies.json``: ``{"anomalies": [{"date", "metric", "factor", "description"}]}``.
* ``counts.json``: events by type and by day, duplicates, malformed payloads by reason, late, skewed
  and bot events, and the lines the landing zone and the quarantine should hold.
* ``run.json``: the configuration that produced all of the above.
"""

from __future__ import annotations

import csv
from bisect import bisect_right
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from analytics_settings import REPO_ROOT
from collector.generator.model import GeneratorConfig, Truth

EXCHANGE_RATES = REPO_ROOT / "dbt_project" / "seeds" / "exchange_rates.csv"
TRUTH_CURRENCY = "USD"  # ANALYTICS_REPORTING_CURRENCY's default

TIMESTAMP = pa.timestamp("ms", tz="UTC")

USERS_SCHEMA = pa.schema([
    ("visitor_id", pa.string()),
    ("user_id", pa.string()),
    ("anonymous_ids", pa.list_(pa.string())),
    ("is_bot", pa.bool_()),
    ("platform", pa.string()),
    ("country", pa.string()),
    ("first_seen_date", pa.date32()),
    ("signup_at", TIMESTAMP),
    ("plan", pa.string()),
    ("funnel_step", pa.int8()),
    ("orders", pa.int32()),
    ("revenue_usd", pa.float64()),
    ("sessions_per_day_rate", pa.float64()),
    ("clock_skew_ms", pa.int64()),
    ("churn_probability", pa.float64()),
    ("churn_date", pa.date32()),
    ("last_active_date", pa.date32()),
    ("churned", pa.bool_()),
])

SESSIONS_SCHEMA = pa.schema([
    ("session_id", pa.string()),
    ("visitor_id", pa.string()),
    ("anonymous_id", pa.string()),
    ("user_id", pa.string()),
    ("stitched_user_id", pa.string()),
    ("start", TIMESTAMP),
    ("end", TIMESTAMP),
    ("events", pa.int32()),
    ("is_bot", pa.bool_()),
    ("late", pa.bool_()),
])

ORDERS_SCHEMA = pa.schema([
    ("order_id", pa.string()),
    ("visitor_id", pa.string()),
    ("is_bot", pa.bool_()),
    ("order_time", TIMESTAMP),
    ("order_date", pa.date32()),
    ("currency", pa.string()),
    ("revenue", pa.decimal128(18, 2)),
    ("exchange_rate_date", pa.date32()),
    ("exchange_rate", pa.float64()),
    ("revenue_usd_at_rate", pa.decimal128(18, 2)),
])

# per currency: its rate days in order and the units one euro buys on each
ExchangeRates = dict[str, tuple[list[date], list[float]]]


def read_exchange_rates(path: Path = EXCHANGE_RATES) -> ExchangeRates:
    """The rates file (rate_date, currency, units_per_eur), with the euro at 1 on every day that has a rate."""
    by_currency: dict[str, dict[date, float]] = defaultdict(dict)
    with path.open(newline="") as lines:
        for row in csv.DictReader(lines):
            day = date.fromisoformat(row["rate_date"])
            by_currency[row["currency"].strip().upper()][day] = float(row["units_per_eur"])
            by_currency["EUR"][day] = 1.0
    return {currency: (sorted(days), [days[d] for d in sorted(days)]) for currency, days in by_currency.items()}


def rate_on(rates: ExchangeRates, currency: str, day: date) -> tuple[date, float] | None:
    """The latest (day, units per euro) of ``currency`` on or before ``day``; None when it has none."""
    days, units = rates.get(currency, ((), ()))
    position = bisect_right(days, day) - 1
    return (days[position], units[position]) if position >= 0 else None


def convert(amount: float, currency: str, day: date, rates: ExchangeRates,
            into: str = TRUTH_CURRENCY) -> tuple[date, float, Decimal] | None:
    """``amount`` of ``currency`` on ``day`` in ``into``: (rate day, rate, amount in cents); None without a rate.

    The rate is into's units per euro over currency's, each the latest on or before the day (1 when the two
    are one currency); the amount is rounded to cents half away from zero, in double precision.
    """
    own, target = rate_on(rates, currency, day), rate_on(rates, into, day)
    if own is None or target is None:
        return None
    rate = 1.0 if currency == into else target[1] / own[1]
    cents = Decimal(amount * rate * 100).to_integral_value(ROUND_HALF_UP)
    return own[0], rate, cents.scaleb(-2)


def _orders_table(orders: dict[str, list], rates: ExchangeRates) -> pa.Table:
    times = orders["order_time"]
    days = [datetime.fromtimestamp(ms / 1000, UTC).date() for ms in times]
    converted = [convert(amount, currency, day, rates)
                 for amount, currency, day in zip(orders["revenue"], orders["currency"], days)]
    columns = {
        **orders,
        "order_date": days,
        "revenue": [Decimal(repr(amount)) for amount in orders["revenue"]],
        "exchange_rate_date": [c and c[0] for c in converted],
        "exchange_rate": [c and c[1] for c in converted],
        "revenue_usd_at_rate": [c and c[2] for c in converted],
    }
    return pa.Table.from_arrays([pa.array(columns[field.name], field.type) if field.name != "order_time"
                                 else pa.array(times, pa.int64()).cast(field.type) for field in ORDERS_SCHEMA],
                                schema=ORDERS_SCHEMA)


def _table(columns: dict, schema: pa.Schema) -> pa.Table:
    """Columns as the model keeps them (dates as ISO strings, times as epoch ms) in the schema's types."""
    arrays = []
    for column in schema:
        values = columns[column.name]
        if pa.types.is_date32(column.type):
            arrays.append(pa.array(values, pa.string()).cast(column.type))
        elif pa.types.is_timestamp(column.type):
            arrays.append(pa.array(values, pa.int64()).cast(column.type))
        else:
            arrays.append(pa.array(values, column.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write_json(path: Path, value: object) -> None:
    path.write_bytes(orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")


def write_truth(truth: Truth, config: GeneratorConfig, folder: Path) -> Path:
    """Write every truth file into ``folder`` (created), replacing what a previous run left there."""
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(_table(truth.users, USERS_SCHEMA), folder / "users.parquet")
    pq.write_table(_table(truth.sessions, SESSIONS_SCHEMA), folder / "sessions.parquet")
    pq.write_table(_orders_table(truth.orders, read_exchange_rates()), folder / "orders.parquet")
    _write_json(folder / "funnel.json", {"steps": truth.funnel})
    _write_json(folder / "anomalies.json", {"anomalies": truth.anomalies})
    _write_json(folder / "counts.json", truth.counts)
    _write_json(folder / "run.json", {
        "start": config.start.isoformat(), "users": config.users, "days": config.days, "seed": config.seed,
        "bot_share": config.bot_share, "duplicate_rate": config.duplicate_rate,
        "malformed_rate": config.malformed_rate, "late_session_rate": config.late_session_rate,
        "skewed_visitor_rate": config.skewed_visitor_rate,
    })
    return folder
