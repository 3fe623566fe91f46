"""DuckDB over the lake's files and the warehouse, into the pandas frames Great Expectations validates.

A suite reads only the columns its rules need, computes per-row values in SQL (a list of missing fields, an
offset in hours), and streams the result in batches of ``BATCH_ROWS``: repeated strings (event types, file
names, user agents) become categoricals batch by batch and other strings stay Arrow-backed, so a
10-million-event day is never held as Python strings. Paths are strings built on ``settings.lake_root``, so
a lake on object storage works wherever DuckDB can read it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from analytics_settings import Settings

BATCH_ROWS = 1_000_000
# Arrow types whose pandas default would cost memory or precision: strings as Python objects, and 64-bit
# hashes with nulls as float64 (which merges distinct hashes).
PANDAS_TYPES = {pa.string(): pd.StringDtype("pyarrow"), pa.large_string(): pd.StringDtype("pyarrow"),
                pa.uint64(): pd.UInt64Dtype()}


@contextmanager
def connection(settings: Settings, database: Path | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection in UTC with the stack's DuckDB limits; ``database`` is opened read-only."""
    spill = settings.data_dir / "quality" / "duckdb-spill"
    spill.mkdir(parents=True, exist_ok=True)
    config = {"threads": settings.duckdb_threads, "memory_limit": settings.duckdb_memory_limit,
              "temp_directory": str(spill)}
    if database is not None and not database.exists():
        raise FileNotFoundError(f"no warehouse at {database}; build it first (python -m warehouse build) or set "
                                "ANALYTICS_WAREHOUSE_PATH")
    con = duckdb.connect(str(database) if database else ":memory:", read_only=database is not None, config=config)
    try:
        con.execute("SET TimeZone = 'UTC'")
        yield con
    finally:
        con.close()


def lake_uri(settings: Settings, *parts: str) -> str:
    """A path under the lake root (``file://`` dropped: DuckDB reads local paths as they are)."""
    return "/".join([settings.lake_root.removeprefix("file://").rstrip("/"), *parts])


def glob(con: duckdb.DuckDBPyConnection, pattern: str) -> list[str]:
    """The files matching ``pattern``, sorted (an empty list when there are none)."""
    return [row[0] for row in con.execute("SELECT file FROM glob(?) ORDER BY file", [pattern]).fetchall()]


def bronze_files(con: duckdb.DuckDBPyConnection, settings: Settings, received_date: date | str,
                 event_date: date | str = "*") -> list[str]:
    return glob(con, lake_uri(settings, "bronze", "events", f"event_date={event_date}",
                              f"received_date={received_date}", "*.parquet"))


def file_list(paths: Iterable[str]) -> str:
    """A DuckDB list literal of file paths (paths come from ``glob``; quotes are doubled all the same)."""
    return "[" + ", ".join("'" + path.replace("'", "''") + "'" for path in paths) + "]"


def read_ndjson(files: list[str], fields: dict[str, str], filename: bool = False) -> str:
    """A relation of the NDJSON lines of ``files`` with ``fields`` (name → DuckDB type) as columns, plus
    ``filename`` if asked; nothing else on a line is parsed into a column. Empty (same columns) without files."""
    if not files:
        return empty_relation({**fields, **({"filename": "VARCHAR"} if filename else {})})
    columns = "{" + ", ".join(f"\"{name}\": '{kind}'" for name, kind in fields.items()) + "}"
    return (f"SELECT * FROM read_json({file_list(files)}, format = 'newline_delimited', columns = {columns}, "
            f"ignore_errors = true, hive_partitioning = false, filename = {str(filename).lower()})")


def read_parquet(files: list[str], columns: dict[str, str]) -> str:
    """A relation of ``columns`` of the Parquet ``files`` and each row's ``filename`` (empty without files)."""
    if not files:
        return empty_relation({**columns, "filename": "VARCHAR"})
    names = ", ".join(f'"{name}"' for name in columns)
    return (f"SELECT {names}, filename FROM read_parquet({file_list(files)}, filename = true, "
            "hive_partitioning = false)")


def empty_relation(columns: dict[str, str]) -> str:
    return "SELECT " + ", ".join(f'NULL::{kind} AS "{name}"' for name, kind in columns.items()) + " LIMIT 0"


def relative_to_lake(files: pd.Series, settings: Settings) -> pd.Series:
    """The categorical file paths ``files`` relative to the lake root (shorter in samples, the same on any
    host); renamed per distinct file, not per row. Spark names its input files ``file:///…``."""
    prefix = lake_uri(settings).rstrip("/") + "/"

    def relative(path: str) -> str:
        path = path.removeprefix("file://")
        return path.removeprefix(prefix)

    categories = files.cat.categories
    return files.cat.rename_categories(dict(zip(categories, map(relative, categories), strict=True)))


def blank(column: str) -> str:
    """SQL: the value is absent or empty (whitespace is not trimmed: trimming every row costs 30× more)."""
    return f'("{column}" IS NULL OR "{column}" = \'\')'


def missing_fields(checks: dict[str, str]) -> str:
    """SQL for the comma-separated names of the ``checks`` (name → condition of its absence) a row fails,
    NULL when it fails none; the list is only built for failing rows."""
    return (f"CASE WHEN {' OR '.join(checks.values())} THEN CONCAT_WS(', ', "
            + ", ".join(f"CASE WHEN {condition} THEN '{name}' END" for name, condition in checks.items())
            + ") END")


def frame(con: duckdb.DuckDBPyConnection, sql: str, categorical: Iterable[str] = (),
          params: list | None = None, details: Iterable[str] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The result of ``sql`` as two DataFrames with the same index: the ``details`` columns (shown in samples,
    never validated) and the others. ``categorical`` columns (repeated strings) become categoricals.

    Keeping the details apart matters: Great Expectations copies the validated frame for nearly every
    metric, so a wide frame costs memory and time over and over.
    """
    reader = con.sql(sql, params=params).to_arrow_reader(BATCH_ROWS)
    wanted = set(categorical)
    schema = pa.schema([pa.field(f.name, pa.dictionary(pa.int32(), f.type)) if f.name in wanted else f
                        for f in reader.schema])
    # Every column is re-allocated batch by batch (encoded, or copied): an Arrow column exported by DuckDB
    # keeps its whole batch alive, so one kept string column would hold every other column's memory too
    # (3 GB instead of 1 GB for a 10-million-row bronze day).
    cpu = pa.default_cpu_memory_manager()
    batches = [pa.RecordBatch.from_arrays(
        [pc.dictionary_encode(column) if name in wanted else column.copy_to(cpu)
         for name, column in zip(batch.schema.names, batch.columns, strict=True)], schema=schema)
        for batch in reader]
    table = pa.Table.from_batches(batches, schema=schema)
    del batches
    shown = [name for name in table.column_names if name in set(details)]
    validated = [name for name in table.column_names if name not in set(details)]
    result = tuple(table.select(names).to_pandas(types_mapper=PANDAS_TYPES.get, split_blocks=True)
                   for names in (validated, shown))
    del table
    pa.default_memory_pool().release_unused()  # the allocator keeps freed pages otherwise
    return result


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    [(value,)] = con.execute(sql, params or []).fetchall()
    return value
