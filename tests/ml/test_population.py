"""The first provisional day comes from the warehouse's `dim_date`, not from a copy of its rule."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from ml.population import first_provisional_day


@pytest.mark.parametrize(("provisional", "first_open"), [
    ([False, False, True, True], date(2024, 3, 3)),  # the warehouse's flag, whatever today's setting says
    ([False, False, False, False], date(2024, 3, 7)),  # none provisional: the day after the latest arrival
])
def test_first_provisional_day_is_dim_dates_or_the_day_after_the_data(
        tmp_path: Path, provisional: list[bool], first_open: date) -> None:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        connection.execute("create schema marts")
        connection.execute("create table marts.fct_events (event_date date, received_date date)")
        connection.execute("insert into marts.fct_events values ('2024-03-01', '2024-03-02'), "
                           "('2024-03-04', '2024-03-06')")
        connection.execute("create table marts.dim_date (date_day date, is_provisional boolean)")
        connection.executemany("insert into marts.dim_date values (?, ?)",
                               [(date(2024, 3, day), flag) for day, flag in enumerate(provisional, start=1)])
        assert first_provisional_day(connection) == first_open
