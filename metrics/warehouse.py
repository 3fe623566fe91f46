"""The served DuckDB warehouse, opened read-only, re-opened when a new version is published.

dbt publishes a build by renaming it over the served file (``os.replace``); a connection that is open
keeps reading the old file. Before each query the file's identity (device, inode, size, mtime: one
``stat``, a few microseconds) is compared with the one opened, and a replaced file is re-opened, so a
long-lived reader sees each new version from its next query on. ``reconnect()`` forces it.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from metrics.errors import InvalidQueryError, WarehouseNotFoundError


class ServedWarehouse:
    """A read-only connection to the warehouse at ``path``; one query at a time (DuckDB connections are
    not shared between threads, and these queries take milliseconds)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._identity: tuple[int, int, int, int] | None = None
        self._lock = threading.Lock()

    def run(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pd.DataFrame:
        """The result of ``sql`` with ``parameters`` bound, counts as int64 where DuckDB sums to HUGEINT."""
        with self._lock:
            connection = self._current()
            try:
                result = connection.execute(sql, dict(parameters) if parameters else None)
            except duckdb.ConversionException as error:
                raise InvalidQueryError(f"a filter value does not fit its dimension: {error}") from None
            types = {column[0]: str(column[1]) for column in result.description or ()}
            frame = result.df()
        for column, type_name in types.items():
            # DuckDB sums integers to HUGEINT, which pandas receives as float64; counts are whole numbers.
            if type_name == "HUGEINT" and not frame[column].isna().any():
                frame[column] = frame[column].astype("int64")
        return frame

    @contextlib.contextmanager
    def connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The connection to the current version, for code that runs its own SQL on it (``ml.features``);
        other queries wait until the block ends."""
        with self._lock:
            yield self._current()

    def reconnect(self) -> None:
        """Re-open the file now (whether or not it was replaced)."""
        with self._lock:
            self._open()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
            self._connection, self._identity = None, None

    def _current(self) -> duckdb.DuckDBPyConnection:
        if self._connection is None or self._file_identity() != self._identity:
            self._open()
        assert self._connection is not None
        return self._connection

    def _open(self) -> None:
        # A fresh in-memory database that attaches the file: `duckdb.connect(path)` would hand back the
        # instance another connection of this process still holds on the path, i.e. the replaced file.
        identity = self._file_identity()
        connection = duckdb.connect(":memory:")
        try:
            connection.execute(f"attach '{_literal(str(self.path))}' as warehouse (read_only)")
            connection.execute("use warehouse")
        except BaseException:
            connection.close()
            raise
        if self._connection is not None:
            self._connection.close()
        self._connection, self._identity = connection, identity

    def _file_identity(self) -> tuple[int, int, int, int]:
        try:
            status = os.stat(self.path)
        except FileNotFoundError:
            raise WarehouseNotFoundError(
                f"no warehouse at {self.path}; build and publish one first (the warehouse stage), or set "
                "ANALYTICS_WAREHOUSE_PATH / pass the path of one") from None
        return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def _literal(text: str) -> str:
    return text.replace("'", "''")
