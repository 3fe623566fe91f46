"""The SQL behind a query: shown, runnable as is, compiled once per query shape."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date

import duckdb
import pytest

import metrics
from metrics import SemanticLayer
from metrics.typical import typical_queries
from tests.metrics.conftest import BuiltWarehouse

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)


def test_sql_shows_the_query_with_parameters(layer: SemanticLayer) -> None:
    sql = layer.sql(["sessions", "bounce_rate"], group_by=["session__device_type"],
                    where=[("session__country_code", "in", ["US", "FR"])], start="2024-03-04", end="2024-03-11")
    assert sql.lstrip().startswith("--") and "SELECT" in sql
    assert '"marts"."dim_sessions"' in sql  # no database name: it runs on the served file, whatever its name
    assert "IN ($f0_0, $f0_1)" in sql and "'US'" not in sql
    assert "BETWEEN '2024-03-04' AND '2024-03-10'" in sql  # [start, end) as whole days


def test_the_shown_sql_runs_as_is_on_the_served_file(layer: SemanticLayer, built_warehouse: BuiltWarehouse
                                                     ) -> None:
    arguments = {"metrics": ["events", "revenue"], "group_by": ["event__device_type"], "grain": "week",
                 "where": [("event__country_code", "=", "US")], "order_by": ["-events"], "limit": 2}
    explained = layer.explain(**arguments)
    with duckdb.connect(str(built_warehouse.served), read_only=True) as connection:
        rows = connection.execute(explained.sql, explained.parameters).fetchall()
    frame = layer.query(**arguments)
    assert [(row[0], row[1], int(row[2]), float(row[3])) for row in rows] == [
        (row.metric_time__week.to_pydatetime(), row.event__device_type, row.events, row.revenue)
        for row in frame.itertuples()]
    assert len(rows) == 2 and rows[0][2] >= rows[1][2]


def test_compiled_once_per_shape_whatever_the_values(built_warehouse: BuiltWarehouse) -> None:
    with SemanticLayer(built_warehouse.served, built_warehouse.manifest) as fresh:
        for country in ["US", "FR", "DE", "US"]:
            fresh.query("events", where=[("event__country_code", "=", country)], start="2024-03-04",
                        end="2024-03-18")
        assert (fresh.cache_info().misses, fresh.cache_info().hits) == (1, 3)
        fresh.query("events", where=[("event__country_code", "in", ["US", "FR"])], start="2024-03-04",
                    end="2024-03-18")
        fresh.query("events", start="2024-03-04", end="2024-03-11")
        assert fresh.cache_info().misses == 3
        # a range is whole days of metric time: times of day round out to them
        assert fresh.query("events", start="2024-03-04T10:30:00", end="2024-03-10T00:00:01").equals(
            fresh.query("events", start="2024-03-04", end="2024-03-11"))
        assert fresh.cache_info().misses == 3


def test_results_are_ordered_by_time_then_group_by(layer: SemanticLayer) -> None:
    frame = layer.query("sessions", group_by=["session__device_type"], start="2024-03-04", end="2024-03-18")
    keys = list(zip(frame["metric_time__day"], frame["session__device_type"], strict=True))
    assert keys == sorted(keys)
    assert list(frame.columns) == ["metric_time__day", "session__device_type", "sessions"]
    assert str(frame["sessions"].dtype) == "int64"


def test_ties_of_order_by_are_broken_by_time_then_group_by(layer: SemanticLayer) -> None:
    """Equal values of the named column (many countries have no orders) come in the same order on every
    run, and a limit keeps the same rows."""
    frame = layer.query(["revenue", "orders"], group_by=["event__country_code", "event__currency"], grain=None,
                        order_by=["-orders"], start="2024-03-04", end="2024-03-18")
    keys = [(-row.orders, row.event__country_code, row.event__currency is None, row.event__currency or "")
            for row in frame.itertuples()]
    assert keys == sorted(keys)
    assert (frame["orders"] == 0).sum() > 1  # the ties this is about
    assert "ORDER BY orders DESC, event__country_code, event__currency" in " ".join(
        layer.sql(["revenue", "orders"], group_by=["event__country_code", "event__currency"], grain=None,
                  order_by=["-orders"]).split())


def test_module_functions_use_the_served_warehouse_of_the_settings(
        built_warehouse: BuiltWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE_PATH", str(built_warehouse.served))
    monkeypatch.setattr("metrics.layer._default", None)
    assert metrics.default_layer().warehouse_path == built_warehouse.served
    assert metrics.query("events", grain=None)["events"].item() > 0
    assert "$f0" in metrics.sql("events", where=[("event__event_name", "=", "page")])
    assert metrics.explain("events", where=[("event__event_name", "=", "page")]).parameters == {"f0": "page"}
    metrics.default_layer().close()


def test_threads_share_a_layer(built_warehouse: BuiltWarehouse, layer: SemanticLayer) -> None:
    """Compilations (MetricFlow numbers aliases from a process-wide counter) and queries from many threads."""
    queries = list(typical_queries(date(2024, 3, 18)).values())
    expected = [layer.query(**arguments) for arguments in queries]
    with SemanticLayer(built_warehouse.served, built_warehouse.manifest) as fresh, ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda arguments: fresh.query(**arguments), queries * 3))
    for index, frame in enumerate(results):
        assert frame.equals(expected[index % len(queries)]), index


def test_every_read_of_a_table_carries_the_time_range(layer: SemanticLayer) -> None:
    """No CTEs: DuckDB would materialize a CTE read twice whole, all of the table's history, before the range
    applies; inline, each read is limited to the range and skips the other days' row groups."""
    sql = layer.sql(["sessions", "average_session_duration", "bounce_rate"], start="2024-03-04",
                    end="2024-03-11")
    reads = sql.split('"marts"."dim_sessions"')[1:]
    assert "_cte" not in sql and len(reads) >= 2
    for after in reads:
        assert "BETWEEN '2024-03-04' AND '2024-03-10'" in after.split("\n")[1], after[:200]
