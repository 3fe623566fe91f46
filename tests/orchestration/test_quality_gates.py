"""The quality suites gate the daily chain in a real Dagster run: a blocking failure stops what depends on the
asset, and the failed check says which expectation failed, what was observed and which rows offend; one
user's odd event only warns; a person can accept a blocked day and the chain moves on."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import pytest

from collector.generator import GeneratorConfig, generate
from collector.generator.sinks import LandingSink
from collector.landing import sealed_files
from orchestration.definitions import defs
from orchestration.pipeline import run_pipeline

pytestmark = pytest.mark.slow
CONFIG = GeneratorConfig(start=date(2024, 3, 4), users=60, days=1, seed=5)
DOWNSTREAM_OF_BRONZE = [["gold", "daily_event_rollup"], ["staging", "stg_events"], ["marts", "fct_events"],
                        ["marts", "dim_sessions"]]


@pytest.fixture
def landed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_mlflow_store) -> Path:
    """A generated day in the landing zone of a fresh data folder; its first sealed file is the one to spoil."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))  # the Spark and dbt subprocesses inherit it
    empty_mlflow_store(tmp_path)  # where the warehouse step looks for champions
    monkeypatch.setenv("ANALYTICS_SPARK_SHUFFLE_PARTITIONS", "2")
    monkeypatch.setenv("ANALYTICS_DUCKDB_MEMORY_LIMIT", "1GB")
    generate(CONFIG, LandingSink(tmp_path / "lake", "web", writer_id="t"), tmp_path / "truth")
    return sealed_files(tmp_path / "lake" / "landing", CONFIG.start.isoformat())[0]


def spoil(path: Path, change, nth: int = 0) -> str:
    """Apply ``change`` to the ``nth`` track event of the landing file; the messageId of the spoiled event."""
    events = [json.loads(line) for line in path.read_text().splitlines()]
    event = [event for event in events if event["type"] == "track"][nth]
    change(event)
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return event["messageId"]


def check_evaluation(instance: dg.DagsterInstance, asset: list[str]) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey(asset), "quality")
    [execution] = instance.event_log_storage.get_latest_asset_check_execution_by_key([key]).values()
    return execution.event.dagster_event.event_specific_data


def materialized(instance: dg.DagsterInstance, asset: list[str]) -> bool:
    return instance.get_latest_materialization_event(dg.AssetKey(asset)) is not None


def test_a_landing_line_of_an_unknown_type_stops_the_chain_before_spark(landed: Path, tmp_path: Path):
    bad_id = spoil(landed, lambda event: event.update(type="purchase"))

    with dg.DagsterInstance.ephemeral() as instance:
        result = run_pipeline(instance)
        assert not result.success
        landing = check_evaluation(instance, ["landing", "events"])
        assert not landing.passed and landing.severity == dg.AssetCheckSeverity.ERROR
        assert "type_in_spec [blocking] FAILED: 1 of" in landing.description
        assert landing.metadata["blocking_failures"].value == 1
        assert bad_id in landing.metadata["offending_rows"].value
        assert "| 2024-03-04 | type_in_spec | blocking | **FAILED** | 1 of " in landing.metadata["verdicts"].value
        assert Path(landing.metadata["data_docs"].value).is_file()
        for asset in [["bronze", "events"], *DOWNSTREAM_OF_BRONZE]:
            assert not materialized(instance, asset), asset
    assert not (tmp_path / "lake" / "bronze").exists()
    assert not (tmp_path / "warehouse" / "analytics.duckdb").exists()


def test_a_blocked_day_goes_on_once_a_person_accepts_it_and_an_odd_event_only_warns(landed: Path, tmp_path: Path):
    """A landing line filed under the wrong arrival day blocks; accepted from the Dagster job, the same day's
    run succeeds and the check names who accepted it and why. In that run one user's odd event (a refund sent
    as a negative amount) is flagged and counted, never a stop: one chain proves both (each costs a Spark
    and a dbt run)."""
    misfiled_id = spoil(landed, lambda event: event.update(receivedAt="2024-03-03T23:30:00.000Z"))
    refund_id = spoil(landed, lambda event: event["properties"].update(revenue=-25.0), nth=1)

    with dg.DagsterInstance.ephemeral() as instance:
        assert not run_pipeline(instance).success
        blocked = check_evaluation(instance, ["landing", "events"])
        assert not blocked.passed and blocked.severity == dg.AssetCheckSeverity.ERROR
        assert misfiled_id in blocked.metadata["offending_rows"].value
        assert not materialized(instance, ["bronze", "events"])

        acceptance = {"asset": "landing/events", "day": "2024-03-04", "by": "Ana",
                      "reason": "one line of a test writer, checked by hand"}
        accepted = defs().resolve_job_def("accept_quality_failure").execute_in_process(
            instance=instance, run_config={"ops": {"record_acceptance": {"config": acceptance}}})
        assert accepted.success

        result = run_pipeline(instance)
        assert result.success and result.days[0] == "2024-03-04"  # late arrivals land on later days too
        landing = check_evaluation(instance, ["landing", "events"])
        assert landing.passed
        assert ("received_in_partition [blocking] FAILED: 1 of " in landing.description
                and "(accepted by Ana at " in landing.description)
        table = landing.metadata["accepted"].value
        assert "| 2024-03-04 | received_in_partition | Ana |" in table
        assert "one line of a test writer, checked by hand" in table
        assert "| 2024-03-04 | received_in_partition | blocking | accepted by Ana |" in landing.metadata["verdicts"].value
        bronze = check_evaluation(instance, ["bronze", "events"])
        assert not bronze.passed and bronze.severity == dg.AssetCheckSeverity.WARN
        assert bronze.description.startswith("2024-03-04 revenue_not_negative [warning] FAILED: 1 of ")
        assert refund_id in bronze.metadata["offending_rows"].value
        for asset in [["bronze", "events"], *DOWNSTREAM_OF_BRONZE]:
            assert materialized(instance, asset), asset
    assert (tmp_path / "warehouse" / "analytics.duckdb").exists()
    [record] = [json.loads(line) for line in (tmp_path / "quality" / "acceptances.jsonl").read_text().splitlines()]
    assert {key: record[key] for key in acceptance} == acceptance and record["rules"] == []
