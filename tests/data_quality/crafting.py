"""Making a copy of the golden dataset bad, one fault at a time, with DuckDB and plain file edits."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import duckdb


def bronze_files(lake: Path, received_date: str, event_date: str = "*") -> list[Path]:
    return sorted(lake.glob(f"bronze/events/event_date={event_date}/received_date={received_date}/*.parquet"))


def landing_files(lake: Path, received_date: str) -> list[Path]:
    return sorted(lake.glob(f"landing/received_date={received_date}/hour=*/*.ndjson"))


def rewrite_parquet(path: Path, select: str) -> None:
    """Replace the Parquet file ``path`` by ``select`` over it (``FROM file``), in place."""
    staged = path.with_suffix(".rewritten")
    with duckdb.connect() as con:
        con.execute("SET TimeZone = 'UTC'")
        con.execute(f"CREATE VIEW file AS SELECT * FROM read_parquet('{path}')")
        con.execute(f"COPY ({select}) TO '{staged}' (FORMAT parquet)")
    os.replace(staged, path)


def rewrite_lines(path: Path, change: Callable[[list[dict]], list[dict]]) -> None:
    """Replace the events of the NDJSON file ``path`` by ``change(events)``."""
    events = [json.loads(line) for line in path.read_text().splitlines() if line]
    path.write_text("".join(json.dumps(event) + "\n" for event in change(events)))


def move_arrival_day(lake: Path, source: str, target: str) -> None:
    """Make bronze's arrival day ``target`` a copy of arrival day ``source``, its times and event days moved
    by the days between them (``target``'s own folders removed)."""
    shift = (date.fromisoformat(target) - date.fromisoformat(source)).days
    for folder in lake.glob(f"bronze/events/event_date=*/received_date={target}"):
        shutil.rmtree(folder)
    for folder in lake.glob(f"bronze/events/event_date=*/received_date={source}"):
        event_date = date.fromisoformat(folder.parent.name.removeprefix("event_date=")) + timedelta(days=shift)
        copy = lake / "bronze" / "events" / f"event_date={event_date}" / f"received_date={target}"
        shutil.copytree(folder, copy)
        for path in copy.glob("*.parquet"):
            rewrite_parquet(path, f"SELECT * REPLACE (received_at + INTERVAL ({shift}) DAYS AS received_at, "
                                  f"event_time + INTERVAL ({shift}) DAYS AS event_time) FROM file")


def count(lake: Path, sql: str) -> int:
    with duckdb.connect() as con:
        [(value,)] = con.execute(sql.replace("{lake}", str(lake))).fetchall()
    return int(value)
