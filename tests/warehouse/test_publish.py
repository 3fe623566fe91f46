"""Publishing: readers of the served warehouse never see a half-built state, and a failing dbt test or a
blocking quality rule on the build copy publishes nothing."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data_quality.registry import GATES
from tests.conftest import arrival_days_of, query, warehouse_settings
from tests.data_quality.crafting import rewrite_parquet
from tests.warehouse.conftest import serve_a_copy
from warehouse import build_and_publish
from warehouse.project import dbt_environment
from warehouse.publish import QualityGateFailed

pytestmark = pytest.mark.slow


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_reader_keeps_answering_during_a_build_and_sees_the_new_data_after_reattaching(
        tmp_path: Path, golden_lake: Path, golden_first_week: Path):
    settings = warehouse_settings(tmp_path, golden_lake, "served")
    days = arrival_days_of(golden_lake)
    serve_a_copy(golden_first_week, settings)
    [(first_count,)] = query(settings.served_warehouse, "select count(*) from marts.fct_events")

    reader = duckdb.connect(str(settings.served_warehouse), read_only=True)
    environment = {**dbt_environment(settings), "ANALYTICS_DATA_DIR": str(settings.data_dir),
                   "ANALYTICS_LAKE_URI": str(golden_lake), "ANALYTICS_WAREHOUSE_PATH": str(settings.served_warehouse)}
    build = subprocess.Popen([sys.executable, "-m", "warehouse", "build", "--from", days[7], "--to", days[-1]],
                             env=os.environ | environment, stdout=subprocess.DEVNULL)
    answers = []
    while build.poll() is None:  # the old version, complete, all along
        answers.append(reader.execute("select count(*), count(distinct event_id) from marts.fct_events "
                                      "join marts.dim_date on date_day = event_date").fetchall()[0])
        time.sleep(0.05)
    assert build.returncode == 0
    assert len(answers) > 10 and set(answers) == {(first_count, first_count)}
    assert reader.execute("select count(*) from marts.fct_events").fetchall() == [(first_count,)]
    reader.close()

    [(second_count,)] = query(settings.served_warehouse, "select count(*) from marts.fct_events")
    assert second_count > first_count
    assert not settings.build_warehouse.exists()


def test_a_failing_dbt_test_stops_the_publish(tmp_path: Path, golden_lake: Path, golden_warehouse: Path):
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake / "bronze", lake / "bronze")
    shutil.copytree(golden_lake / "gold", lake / "gold")
    settings = warehouse_settings(tmp_path, lake, "served")
    serve_a_copy(golden_warehouse, settings)  # the full build of this lake, built once
    before = digest(settings.served_warehouse)

    # An arrival day whose only event has no id: staging keeps it, the grain test on fct_events fails.
    good = pq.read_table(next((lake / "bronze" / "events").rglob("*.parquet")))
    bad = good.slice(0, 1).set_column(0, "message_id", pa.array([None], pa.string()))
    folder = lake / "bronze" / "events" / "event_date=2024-03-22" / "received_date=2024-03-22"
    folder.mkdir(parents=True)
    pq.write_table(bad.drop_columns([c for c in ("event_date", "received_date") if c in bad.column_names]),
                   folder / "part-00000.snappy.parquet")

    with pytest.raises(RuntimeError, match="dbt build"):
        build_and_publish(settings, "2024-03-22", "2024-03-22")
    assert digest(settings.served_warehouse) == before
    assert query(settings.served_warehouse, "select count(*) from marts.fct_events where event_id is null") == [(0,)]


def test_a_blocking_quality_rule_failing_on_the_build_copy_publishes_nothing(
        tmp_path: Path, golden_lake: Path, monkeypatch: pytest.MonkeyPatch):
    """Every event of arrival day 2024-03-14 sent three times (new messageIds): its sessions hold three times
    the events of the ten days before. The sessions suite runs on the build copy before the publish: with its
    rule blocking (as a user would set it in data_quality.registry.GATES) the served file stays as it was;
    as the warning it is, the same build publishes."""
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake / "bronze", lake / "bronze")
    shutil.copytree(golden_lake / "gold", lake / "gold")
    settings = warehouse_settings(tmp_path, lake, "served")
    build_and_publish(settings, "2024-03-04", "2024-03-13")
    before = digest(settings.served_warehouse)
    for path in lake.glob("bronze/events/event_date=*/received_date=2024-03-14/*.parquet"):
        rewrite_parquet(path, "SELECT * FROM file UNION ALL SELECT * REPLACE (message_id || '-2' AS message_id) "
                              "FROM file UNION ALL SELECT * REPLACE (message_id || '-3' AS message_id) FROM file")

    monkeypatch.setitem(GATES["marts/dim_sessions"], "events_per_session_median", ("blocking", "for the test"))
    with pytest.raises(QualityGateFailed, match=r"nothing was published: marts/dim_sessions 2024-03-14 "
                                                r"events_per_session_median \[blocking\] FAILED: observed"):
        build_and_publish(settings, "2024-03-14", "2024-03-14")
    assert digest(settings.served_warehouse) == before
    assert query(settings.served_warehouse, "select count(*) from marts.fct_events "
                                            "where received_date = '2024-03-14'") == [(0,)]

    monkeypatch.undo()
    build_and_publish(settings, "2024-03-14", "2024-03-14")
    [(events,)] = query(settings.served_warehouse, "select count(*) from marts.fct_events "
                                                   "where received_date = '2024-03-14'")
    assert events > 0 and events % 3 == 0
