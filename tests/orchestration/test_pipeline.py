"""`make pipeline` through Dagster: landed days go through Spark and dbt to a published warehouse, once."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from analytics_settings import load_settings
from collector.generator import GeneratorConfig, generate
from collector.generator.sinks import LandingSink
from collector.landing import sealed_files
from orchestration.daily import daily_job
from orchestration.pipeline import run_pipeline, stale_days
from spark_jobs.compact import compact_arrival_day
from tests.spark_jobs.test_compact import bronze_rows, event, land

pytestmark = pytest.mark.slow
CONFIG = GeneratorConfig(start=date(2024, 3, 4), users=120, days=2, seed=11)


def test_landed_days_go_through_the_chain_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_store):
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))  # the Spark and dbt subprocesses inherit it
    empty_mlflow_store(tmp_path)  # where the warehouse step looks for champions
    monkeypatch.setenv("ANALYTICS_SPARK_SHUFFLE_PARTITIONS", "2")
    monkeypatch.setenv("ANALYTICS_DUCKDB_MEMORY_LIMIT", "1GB")
    generate(CONFIG, LandingSink(tmp_path / "lake", "web", writer_id="t"), tmp_path / "truth")
    truth = json.loads((tmp_path / "truth" / "counts.json").read_text())

    with dg.DagsterInstance.ephemeral() as instance:
        landed = stale_days(instance)
        assert landed[:2] == ["2024-03-04", "2024-03-05"] and len(landed) >= 3  # late sessions arrive later
        result = run_pipeline(instance)
        assert result.success and result.days == landed
        assert stale_days(instance) == []

        run = instance.get_run_by_id(result.run_id)
        assert (run.tags["dagster/asset_partition_range_start"], run.tags["dagster/asset_partition_range_end"]) == (
            landed[0], landed[-1])
        sessions = instance.get_latest_materialization_event(dg.AssetKey(["marts", "dim_sessions"]))
        assert sessions is not None and sessions.run_id == result.run_id
        check = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(["marts", "fct_events"]), "unique_fct_events_event_id")])
        assert [execution.status.value for execution in check.values()] == ["SUCCEEDED"]
        quality = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [dg.AssetCheckKey(dg.AssetKey(asset), "quality") for asset in (
                ["landing", "events"], ["bronze", "events"], ["gold", "daily_event_rollup"], ["marts", "dim_sessions"])])
        assert {key.asset_key.to_user_string(): execution.status.value for key, execution in quality.items()} == {
            "landing/events": "SUCCEEDED", "bronze/events": "SUCCEEDED", "gold/daily_event_rollup": "SUCCEEDED",
            "marts/dim_sessions": "SUCCEEDED"}
        assert (tmp_path / "quality" / "gx" / "uncommitted" / "data_docs" / "local_site" / "index.html").is_file()

        again = run_pipeline(instance)
        assert again.days == [] and again.run_id is None

    served = tmp_path / "warehouse" / "analytics.duckdb"
    with duckdb.connect(str(served), read_only=True) as warehouse:
        assert warehouse.execute("select count(*) from marts.fct_events").fetchall() == [(truth["events"],)]
        assert warehouse.execute("select count(*) from marts.dim_sessions").fetchall() == [(truth["sessions"],)]


def test_a_file_sealed_during_a_run_with_an_old_modification_time_is_picked_up_next(
        spark, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The race: the run lists the day's files, then the collector seals one whose writer's clock is behind.
    Up to date is decided by the files the compaction read, so the next run picks it up; a run that compacted
    but failed later (its dbt build) leaves the day stale too."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    lake, day = tmp_path / "lake", "2024-03-04"
    land(lake, day, [event("m1", f"{day}T10:00:00.000Z")])

    def chain(name: str, after_compaction) -> dg.JobDefinition:
        @dg.op(name=f"compact_then_{name}")
        def compact_then():
            compact_arrival_day(spark, day, load_settings())
            after_compaction()

        @dg.job(name=daily_job.name)
        def daily():
            compact_then()

        return daily

    def seal_a_file_with_an_old_modification_time():
        land(lake, day, [event("m2", f"{day}T11:00:00.000Z")])
        newest = max(sealed_files(lake / "landing", day), key=lambda path: path.stat().st_mtime)
        os.utime(newest, (946684800, 946684800))  # 2000-01-01, long before the run started

    def dbt_build_fails():
        raise RuntimeError("dbt build failed")

    tags = {"dagster/asset_partition_range_start": day, "dagster/asset_partition_range_end": day}
    with dg.DagsterInstance.ephemeral() as instance:
        assert stale_days(instance) == [day]
        assert chain("a_file_is_sealed", seal_a_file_with_an_old_modification_time).execute_in_process(
            instance=instance, tags=tags).success
        assert stale_days(instance) == [day]
        assert not chain("the_build_fails", dbt_build_fails).execute_in_process(
            instance=instance, tags=tags, raise_on_error=False).success
        assert stale_days(instance) == [day]  # every file read, but what read them did not reach the warehouse
        assert chain("nothing_else", lambda: None).execute_in_process(instance=instance, tags=tags).success
        assert stale_days(instance) == []
    assert sorted(bronze_rows(lake)) == ["m1", "m2"]
