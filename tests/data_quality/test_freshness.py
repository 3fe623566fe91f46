"""Freshness of each layer, read from the data itself, at a given time; and the Dagster checks that show it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from analytics_settings import Settings, load_settings
from data_quality.freshness import bronze_freshness, landing_freshness, warehouse_freshness

NOW = datetime(2026, 11, 29, 10, 0, tzinfo=UTC)


@pytest.fixture(params=["folder", "file-uri"])
def settings(tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """The lake as the default folder, and as a ``file://`` URI (read the way an object store is)."""
    lake_uri = f"file://{tmp_path}/lake" if request.param == "file-uri" else None
    return load_settings(data_dir=tmp_path, landing_max_silence_minutes=60, lake_uri=lake_uri)


def landing_file(settings: Settings, day: str, sealed_at: datetime) -> None:
    path = settings.lake_path / "landing" / f"received_date={day}" / "hour=09" / "web-1.ndjson"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{}\n")
    os.utime(path, (sealed_at.timestamp(), sealed_at.timestamp()))


def bronze_folder(settings: Settings, event_date: str, received_date: str) -> None:
    folder = settings.lake_path / "bronze" / "events" / f"event_date={event_date}" / f"received_date={received_date}"
    folder.mkdir(parents=True)
    duckdb.execute(f"COPY (SELECT 1 AS x) TO '{folder}/part-0.parquet' (FORMAT parquet)")


def served_warehouse(settings: Settings, received_dates: list[str]) -> None:
    """A served warehouse (replacing the one there) whose fct_events holds these arrival days."""
    settings.served_warehouse.parent.mkdir(parents=True, exist_ok=True)
    settings.served_warehouse.unlink(missing_ok=True)
    with duckdb.connect(str(settings.served_warehouse)) as con:
        con.execute("CREATE SCHEMA marts")
        con.execute("CREATE TABLE marts.fct_events (received_date DATE)")
        for day in received_dates:
            con.execute("INSERT INTO marts.fct_events VALUES (?)", [day])


def test_landing_is_fresh_while_files_are_sealed(settings: Settings):
    assert landing_freshness(settings, NOW).summary == (
        "landing/events: no data yet (no sealed landing file); at most 60 min allowed")
    assert not landing_freshness(settings, NOW).fresh
    landing_file(settings, "2026-11-29", NOW - timedelta(minutes=59))
    state = landing_freshness(settings, NOW)
    assert state.fresh and state.lag == timedelta(minutes=59)
    landing_file(settings, "2026-11-29", NOW - timedelta(minutes=61))  # the same file, sealed earlier
    state = landing_freshness(settings, NOW)
    assert not state.fresh and state.summary == (
        "landing/events STALE: newest sealed landing file at 2026-11-29 08:59:00 UTC, 61 min behind; "
        "at most 60 min allowed")


def test_an_open_landing_file_is_not_data_yet(settings: Settings):
    path = settings.lake_path / "landing" / "received_date=2026-11-29" / "hour=09" / "web-1.ndjson.open"
    path.parent.mkdir(parents=True)
    path.write_text("{}\n")
    assert landing_freshness(settings, NOW).newest is None


def test_bronze_is_at_most_a_day_behind(settings: Settings):
    assert not bronze_freshness(settings, NOW).fresh
    bronze_folder(settings, "2026-11-26", "2026-11-27")
    bronze_folder(settings, "2026-11-27", "2026-11-27")
    state = bronze_freshness(settings, NOW)  # covers up to 11-28 00:00: 34 h behind, more than 24 h + 3 h
    assert not state.fresh and state.lag == timedelta(hours=34)
    assert state.summary == ("bronze/events STALE: bronze holds arrival days up to 2026-11-27, 34.0 h behind; "
                             "at most 27.0 h allowed")
    bronze_folder(settings, "2026-11-27", "2026-11-28")  # yesterday's arrivals loaded: 10 h behind
    assert bronze_freshness(settings, NOW).fresh and bronze_freshness(settings, NOW).lag == timedelta(hours=10)
    assert bronze_freshness(settings, datetime(2026, 11, 30, 2, 59, tzinfo=UTC)).fresh  # the daily run's grace
    assert not bronze_freshness(settings, datetime(2026, 11, 30, 3, 1, tzinfo=UTC)).fresh
    bronze_folder(settings, "2026-11-29", "2026-11-29")  # today's arrivals so far (the landing sensor)
    assert bronze_freshness(settings, NOW).lag == timedelta(0)


def test_the_served_warehouse_is_at_most_a_day_behind(settings: Settings):
    assert warehouse_freshness(settings, NOW).summary.startswith(
        f"marts/fct_events: no data yet (the served warehouse ({settings.served_warehouse}) holds no arrival day)")
    served_warehouse(settings, ["2026-11-26", "2026-11-27"])
    assert warehouse_freshness(settings, NOW).lag == timedelta(hours=34)
    served_warehouse(settings, [])
    assert warehouse_freshness(settings, NOW).newest is None  # an empty fct_events holds no day either
    served_warehouse(settings, ["2026-11-28"])
    assert warehouse_freshness(settings, NOW).fresh


def test_the_freshness_job_reports_each_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Landing just sealed a file, bronze is old, the warehouse does not exist: WARN results, never errors."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    settings = load_settings()
    landing_file(settings, "2026-11-29", datetime.now(UTC) - timedelta(minutes=5))
    bronze_folder(settings, "2024-03-04", "2024-03-04")
    from orchestration.definitions import defs

    with dg.DagsterInstance.ephemeral() as instance:
        result = defs().resolve_job_def("freshness").execute_in_process(instance=instance)
        assert result.success  # a stale layer is a WARN check result, not a failed run
        evaluations = {e.asset_key.to_user_string(): e for e in result.get_asset_check_evaluations()}
    assert evaluations["landing/events"].passed
    assert abs(evaluations["landing/events"].metadata["lag_hours"].value - 5 / 60) <= 0.02  # sealed 5 min ago
    bronze = evaluations["bronze/events"]
    assert not bronze.passed and bronze.severity == dg.AssetCheckSeverity.WARN
    assert bronze.description.startswith("bronze/events STALE: bronze holds arrival days up to 2024-03-04, ")
    assert bronze.metadata["max_lag_hours"].value == 27.0
    warehouse = evaluations["marts/fct_events"]
    assert not warehouse.passed and "lag_hours" not in warehouse.metadata
