"""The code location loads, and the landing observation reports what the collector sealed."""

from __future__ import annotations

import json

import dagster as dg

from collector.landing import LandingZone, partition_key
from orchestration.collect.assets import access_log_import, landing_events
from orchestration.definitions import defs


def test_code_location_loads(monkeypatch):
    monkeypatch.setenv("ANALYTICS_PIPELINE_START_DATE", "2025-06-01")
    definitions = defs()
    dg.Definitions.validate_loadable(definitions)
    keys = {key.to_user_string() for key in definitions.resolve_all_asset_keys()}
    assert {"landing/events", "landing/access_logs", "bronze/events", "gold/daily_event_rollup", "staging/stg_events",
            "intermediate/int_sessions", "marts/fct_events", "marts/dim_sessions", "marts/fct_retention",
            "marts/fct_funnels"} <= keys
    daily = definitions.resolve_job_def("daily")
    ml = {"ml/churn_model", "ml/ltv_model", "ml/segments_model", "ml/user_scores"}  # trained on their own schedule
    assert {key.to_user_string() for key in daily.asset_layer.executable_asset_keys} == keys - ml - {
        "landing/events", "landing/access_logs"}
    partitions = daily.partitions_def
    assert partitions.get_first_partition_key() == "2025-06-01"
    bronze = definitions.get_assets_def(["bronze", "events"])
    assert bronze.group_names_by_key[bronze.key] == "lake"
    assert bronze.specs_by_key[bronze.key].kinds == {"spark", "parquet"}
    assert bronze.op.retry_policy == dg.RetryPolicy(max_retries=2, delay=10, backoff=dg.Backoff.EXPONENTIAL)
    assert bronze.op.pool == "lake"

    warehouse = definitions.get_assets_def(["marts", "fct_events"])
    assert warehouse.op.pool == "warehouse" and warehouse.partitions_def == partitions
    assert warehouse.backfill_policy == dg.BackfillPolicy.single_run()
    stg_events = definitions.get_assets_def(["staging", "stg_events"])
    assert dg.AssetKey(["bronze", "events"]) in stg_events.asset_deps[dg.AssetKey(["staging", "stg_events"])]
    checks = {f"{key.asset_key.to_user_string()}:{key.name}" for key in definitions.resolve_asset_graph().asset_check_keys}
    assert "marts/fct_events:unique_fct_events_event_id" in checks  # dbt tests are asset checks
    quality = {"landing/events:quality", "bronze/events:quality", "gold/daily_event_rollup:quality",
               "marts/dim_sessions:quality"}
    freshness = {"landing/events:freshness", "bronze/events:freshness", "marts/fct_events:freshness"}
    assert quality | freshness <= checks
    in_daily = {f"{key.asset_key.to_user_string()}:{key.name}" for key in daily.asset_layer.asset_graph.asset_check_keys}
    assert quality <= in_daily and not freshness & in_daily  # the gates run in the chain, freshness on its own
    freshness_job = definitions.resolve_job_def("freshness")
    assert {f"{key.asset_key.to_user_string()}:{key.name}"
            for key in freshness_job.asset_layer.asset_graph.asset_check_keys} >= freshness
    assert definitions.resolve_schedule_def("freshness_schedule").cron_schedule == "*/15 * * * *"


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


def test_access_log_asset_lands_new_requests_once(tmp_path, monkeypatch):
    logs = tmp_path / "nginx"
    logs.mkdir()
    (logs / "access.log").write_text(
        '81.2.69.142 - - [28/Nov/2026:10:00:00 +0000] "GET /pricing HTTP/1.1" 200 512 "-" "Mozilla/5.0 (X11; Linux x86_64)"\n'
        '81.2.69.142 - - [28/Nov/2026:10:00:01 +0000] "GET /app.css HTTP/1.1" 200 90 "-" "Mozilla/5.0 (X11; Linux x86_64)"\n'
        '66.249.66.1 - - [28/Nov/2026:10:00:02 +0000] "GET / HTTP/1.1" 200 900 "-" "Googlebot/2.1"\n')
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ANALYTICS_ACCESS_LOG_DIR", str(logs))
    monkeypatch.setenv("ANALYTICS_ACCESS_LOG_SITE_URL", "https://shop.example.com")

    def materialize() -> dict:
        with dg.DagsterInstance.ephemeral() as instance:
            (event,) = dg.materialize([access_log_import], instance=instance).get_asset_materialization_events()
        return {k: getattr(v, "value", v) for k, v in event.event_specific_data.materialization.metadata.items()}

    first = materialize()
    assert (first["events"], first["bot_events"], first["skipped_by_reason"]) == (2, 1, {"static_asset": 1})
    landed = [line for path in (tmp_path / "data/lake/landing").rglob("*.ndjson") for line in path.read_text().splitlines()]
    assert sorted(json.loads(line)["properties"]["url"] for line in landed) == [
        "https://shop.example.com/", "https://shop.example.com/pricing"]
    assert materialize()["events"] == 0  # nothing new: nothing landed twice
