"""Comparing a semantic-layer result with the tests' own SQL, row for row."""

from __future__ import annotations

import datetime
import math
from typing import Any

import duckdb
import pandas as pd
import pytest


def plain(value: Any) -> Any:
    """A cell as a plain Python value: timestamps as dates (every grain here is a day or coarser)."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, (pd.Timestamp, datetime.datetime)):
        return value.date()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return value


def frame_rows(frame: pd.DataFrame, metric: str) -> dict[tuple, Any]:
    """``{(group-by values…): metric value}`` from a result, keyed by every non-metric column in order."""
    keys = [column for column in frame.columns if column not in _metric_columns(frame, metric)]
    return {tuple(plain(row[key]) for key in keys): plain(row[metric]) for _, row in frame.iterrows()}


def sql_rows(connection: duckdb.DuckDBPyConnection, sql: str) -> dict[tuple, Any]:
    """``{(first columns…): last column}`` from the tests' own SQL."""
    return {tuple(plain(cell) for cell in row[:-1]): plain(row[-1]) for row in connection.execute(sql).fetchall()}


def assert_same(got: dict[tuple, Any], expected: dict[tuple, Any]) -> None:
    assert sorted(got, key=repr) == sorted(expected, key=repr), "different rows"
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(float(value), rel=1e-9, abs=1e-9), key


def day_cohort_retention(connection: duckdb.DuckDBPyConnection, cohort_day: datetime.date,
                         complete_before: datetime.date) -> dict[tuple, Any]:
    """``{(cohort_day, N): share of the cohort active N days later}`` from user activity (not fct_retention),
    for the days before ``complete_before`` (the first provisional day)."""
    return sql_rows(connection, f"""
        with cohort as (select distinct user_key from marts.fct_user_activity_daily
                        where is_active and first_seen_date = date '{cohort_day}')
        select date '{cohort_day}', activity_date - date '{cohort_day}',
               count(distinct user_key) / (select count(*) from cohort)
        from marts.fct_user_activity_daily where is_active and user_key in (select user_key from cohort)
          and activity_date < date '{complete_before}'
        group by all""")


def _metric_columns(frame: pd.DataFrame, metric: str) -> set[str]:
    # every column that is not a group-by: group-by columns are named <entity>__<dimension>
    return {column for column in frame.columns if "__" not in column} | {metric}
