"""Daily incremental runs give the same warehouse as one full build, and re-running a day changes nothing."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from analytics_settings import Settings
from tests.conftest import arrival_days_of, query, warehouse_settings
from tests.warehouse.conftest import serve_a_copy
from warehouse import build_args, building
from warehouse.project import run_dbt

pytestmark = pytest.mark.slow
# Bookkeeping of the incremental strategies (which run recomputed a session from where, which user a run
# took a linked id from, the rows a run replaced), not data.
RUN_COLUMNS = {"recomputed_from", "merged_keys", "moved_from_user_id"}
RUN_TABLES = {("intermediate", "int_events_replaced")}


def differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Per table of the staging-free layers: rows only in ``left``, rows only in ``right``."""
    with duckdb.connect() as connection:
        connection.execute(f"attach '{left}' as l (read_only); attach '{right}' as r (read_only)")
        tables = connection.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = 'l' "
            "and schema_name in ('intermediate', 'marts') order by all").fetchall()
        # the incremental marts and those rebuilt whole from them each run, the metrics' own included
        assert len(tables) >= 16
        assert {("marts", "fct_event_counts_daily"), ("marts", "fct_user_recency_daily")} <= set(tables)
        found = {}
        for schema, table in set(tables) - RUN_TABLES:
            columns = ", ".join(f'"{name}"' for (name,) in connection.execute(
                "select column_name from duckdb_columns() where database_name = 'l' and schema_name = ? "
                "and table_name = ? order by column_index", [schema, table]).fetchall() if name not in RUN_COLUMNS)
            only_left, only_right = (connection.execute(
                f"select count(*) from (select {columns} from {a}.{schema}.{table} "
                f"except all select {columns} from {b}.{schema}.{table})").fetchall()[0][0]
                for a, b in (("l", "r"), ("r", "l")))
            if only_left or only_right:
                found[f"{schema}.{table}"] = (only_left, only_right)
        return found


def run_and_publish(settings: Settings, day_from: str | None, day_to: str | None, full_refresh: bool = False) -> None:
    """A daily run (or a full refresh), published; without the dbt tests (the same for every run, and run by the
    other tests)."""
    with building(settings) as build:
        run_dbt([*build_args(settings, day_from, day_to, full_refresh), "--exclude",
                 "resource_type:test resource_type:unit_test", "--target-path", str(build.target_path)], settings)


def test_daily_runs_equal_a_full_refresh(tmp_path: Path, golden_lake: Path, golden_warehouse: Path,
                                         golden_first_week: Path):
    settings = warehouse_settings(tmp_path, golden_lake, "daily")
    days = arrival_days_of(golden_lake)
    assert len(days) >= 14
    # From the first week built in one run (shared with test_publish), a run per day for the other eleven, the
    # late arrivals' days among them: the first week's days one by one cost seven more dbt runs (~15 s each)
    # and held no case the later days lack.
    serve_a_copy(golden_first_week, settings)
    for day in days[7:]:
        run_and_publish(settings, day, day)
    assert differences(settings.served_warehouse, golden_warehouse) == {}
    # the per-day event counts the daily runs recomputed day by day (late events included) add up to the events
    assert query(settings.served_warehouse, "select sum(events), sum(orders), sum(order_revenue) "
                                            "from marts.fct_event_counts_daily") == query(
        settings.served_warehouse, "select count(*), count(*) filter (where event_name = 'Order Completed'), "
                                   "sum(reporting_revenue) filter (where event_name = 'Order Completed') "
                                   "from marts.fct_events")

    run_and_publish(settings, days[-3], days[-1])  # the last days once more
    assert differences(settings.served_warehouse, golden_warehouse) == {}
