"""A long-lived reader sees a newly published warehouse (replaced with os.replace) from its next query."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest

from metrics import SemanticLayer, WarehouseNotFoundError
from tests.metrics.conftest import BuiltWarehouse

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)


def publish_without_last_day(source: Path, served: Path) -> None:
    """Publish a copy of ``source`` whose last day of events is gone, the way dbt publishes a build."""
    build = served.with_name("next.duckdb")
    shutil.copyfile(source, build)
    with duckdb.connect(str(build)) as connection:
        for table in ("fct_events", "fct_event_counts_daily"):  # the events and what the metrics read of them
            connection.execute(f"delete from marts.{table} where event_date = date '2024-03-17'")
    os.replace(build, served)


def test_next_query_sees_the_new_version(built_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    served = tmp_path / "analytics.duckdb"
    shutil.copyfile(built_warehouse.served, served)
    other_reader = duckdb.connect(str(served), read_only=True)  # another reader of the old file, same process
    with SemanticLayer(served, built_warehouse.manifest) as layer:
        before = layer.query("events", start="2024-03-16", end="2024-03-18")["events"].tolist()
        assert len(before) == 2
        publish_without_last_day(built_warehouse.served, served)
        after = layer.query("events", start="2024-03-16", end="2024-03-18")["events"].tolist()
        assert after == before[:1]
        layer.reconnect()
        layer.refresh()
        assert layer.query("events", start="2024-03-16", end="2024-03-18")["events"].tolist() == before[:1]
    assert other_reader.execute(
        "select count(*) from marts.fct_events where event_date = date '2024-03-17'").fetchone()[0] > 0
    other_reader.close()


def test_a_missing_warehouse_says_so(built_warehouse: BuiltWarehouse, tmp_path: Path) -> None:
    with SemanticLayer(tmp_path / "nowhere.duckdb", built_warehouse.manifest) as layer:
        assert layer.sql("events")  # compiling needs no warehouse
        with pytest.raises(WarehouseNotFoundError, match="no warehouse at .*nowhere.duckdb"):
            layer.query("events")
