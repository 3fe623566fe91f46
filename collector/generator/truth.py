"""Write a run's ground truth: what the generator did, for tests and demos to check the pipeline against.

Layout under ``<data_dir>/generator/<run name>/truth/``:

* ``users.parquet``: one row per visitor (humans and bots), keyed by ``visitor_id``.
* ``sessions.parquet``: one row per session (rules in :mod:`collector.generator.model`), keyed by
  ``session_id``, sorted by visitor and start.
* ``funnel.json``: ``{"steps": [{"step", "event", "users"}]}``, visitors who reached each step.
* ``anomalies.json``: ``{"anomalies": [{"date", "metric", "factor", "description"}]}``.
* ``counts.json``: events by type and by day, duplicates, malformed payloads by reason, late, skewed
  and bot events, and the lines the landing zone and the quarantine should hold.
* ``run.json``: the configuration that produced all of the above.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from collector.generator.model import GeneratorConfig, Truth

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
