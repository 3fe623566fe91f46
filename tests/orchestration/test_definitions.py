"""The code location loads, and the landing observation reports what the collector sealed."""

from __future__ import annotations

import dagster as dg

from collector.landing import LandingZone, partition_key
from orchestration.collect.assets import landing_events
from orchestration.definitions import defs


def test_code_location_loads(monkeypatch):
    monkeypatch.setenv("ANALYTICS_PIPELINE_START_DATE", "2025-06-01")
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    assert {key.to_user_string() for key in definitions.resolve_all_asset_keys()} == {
        "landing/events", "bronze/events", "gold/daily_event_rollup"}
    partitions = definitions.resolve_job_def("lake_daily").partitions_def
    assert partitions.get_first_partition_key() == "2025-06-01"
    bronze = definitions.get_assets_def(["bronze", "events"])
    assert bronze.group_names_by_key[bronze.key] == "lake"
    assert bronze.specs_by_key[bronze.key].kinds == {"spark", "parquet"}
    assert bronze.op.retry_policy == dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
    assert bronze.op.pool == "lake"


def test_landing_observation_counts_sealed_files(tmp_path, monkeypatch):
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    zone = LandingZone(tmp_path / "lake" / "landing", max_file_bytes=8)
    zone.append(partition_key(1_764_410_400_000), b"aaaaaa\n")  # 2025-11-29
    zone.append(partition_key(1_764_410_400_000), b"bbbbbb\n")  # rotates: seals the first file
    zone.append(partition_key(1_764_496_800_000), b"cc\n")  # 2025-11-30
    zone.seal_all()
    result = landing_events.observe_fn()
    assert result.metadata["sealed_files"] == 3
    assert result.metadata["bytes"] == 17
    assert result.metadata["newest_received_date"] == "2025-11-30"
    assert result.metadata["files_by_received_date"].value == {"2025-11-29": 2, "2025-11-30": 1}
    assert result.data_version.value == "2025-11-30:3:17"
