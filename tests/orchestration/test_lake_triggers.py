"""When the lake runs: the daily schedule, the sealed-files sensor, and how a failing Spark job is reported."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from orchestration.lake.assets import arrival_days, event_dates_to_roll_up
from orchestration.lake.resources import SparkJobRunner
from orchestration.schedules import daily_schedule
from orchestration.sensors import landing_sealed_files_sensor
from orchestration.up import dagster_home


@pytest.fixture
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ANALYTICS_PIPELINE_START_DATE", "2024-01-01")
    return tmp_path / "lake"


def _seal(lake: Path, day: str, name: str, data: bytes) -> None:
    folder = lake / "landing" / f"received_date={day}" / "hour=00"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.ndjson").write_bytes(data)
    (folder / f"{name}.ndjson.open").write_bytes(b"open files are never read\n")


def _tick(cursor: str | None) -> tuple[list[dg.RunRequest], str | None]:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(cursor=cursor, instance=instance)
        requests = list(landing_sealed_files_sensor(context))
    return requests, context.cursor


def test_schedule_runs_yesterdays_arrival_day(lake: Path):
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 3, 5, 0, 30, tzinfo=UTC))
    request = daily_schedule(context)
    assert (request.partition_key, request.run_key) == ("2024-03-04", "2024-03-04")
    assert daily_schedule.cron_schedule == "30 0 * * *"
    assert daily_schedule.execution_timezone == "UTC"

    first = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 1, 1, 0, 30, tzinfo=UTC))
    assert isinstance(daily_schedule(first), dg.SkipReason)  # 2023-12-31 is before the start date


def test_sensor_requests_exactly_the_arrival_days_whose_sealed_files_changed(lake: Path):
    today = datetime.now(UTC).date()
    future = (today + timedelta(days=2)).isoformat()
    _seal(lake, "2023-12-31", "a", b"1\n")  # before ANALYTICS_PIPELINE_START_DATE: not a partition
    _seal(lake, "2024-03-04", "a", b"12\n")
    _seal(lake, "2024-03-05", "a", b"123\n")
    _seal(lake, today.isoformat(), "a", b"1234\n")  # today's partition exists (end_offset=1)
    _seal(lake, future, "a", b"1\n")  # a clock far ahead: not a partition yet

    cursor = json.dumps({"2024-03-04": [1, 3]})  # seen already, unchanged
    requests, cursor = _tick(cursor)
    assert [(r.partition_key, r.run_key) for r in requests] == [
        ("2024-03-05", "2024-03-05:1:4"), (today.isoformat(), f"{today}:1:5")]
    assert json.loads(cursor) == {"2024-03-04": [1, 3], "2024-03-05": [1, 4], today.isoformat(): [1, 5]}

    assert _tick(cursor)[0] == []  # nothing changed

    _seal(lake, "2024-03-04", "b", b"123456\n")
    requests, cursor = _tick(cursor)
    assert [(r.partition_key, r.run_key) for r in requests] == [("2024-03-04", "2024-03-04:2:10")]
    assert json.loads(cursor)["2024-03-04"] == [2, 10]


def test_sensor_starts_from_every_sealed_day_without_a_cursor(lake: Path):
    _seal(lake, "2024-03-04", "a", b"12\n")
    requests, _ = _tick(None)
    assert [r.partition_key for r in requests] == ["2024-03-04"]
    assert _tick(None)[0][0].run_key == "2024-03-04:1:3"


def test_event_dates_of_an_arrival_day_come_from_bronze_folders(tmp_path: Path):
    bronze = tmp_path / "lake" / "bronze" / "events"
    for event_date, received_date in [("2024-03-03", "2024-03-04"), ("2024-03-04", "2024-03-04"),
                                      ("2024-03-04", "2024-03-05"), ("2024-03-02", "2024-03-02")]:
        (bronze / f"event_date={event_date}" / f"received_date={received_date}").mkdir(parents=True)
    (bronze / "event_date=2024-03-05.replaced-1234").mkdir()  # a replacement in flight is no event day
    assert event_dates_to_roll_up(str(tmp_path / "lake"), "2024-03-04") == ["2024-03-03", "2024-03-04"]
    assert event_dates_to_roll_up(f"file://{tmp_path}/lake", "2024-03-05") == ["2024-03-04"]
    assert event_dates_to_roll_up(str(tmp_path / "nothing"), "2024-03-05") == []
    (tmp_path / "lake" / "gold" / "daily_event_rollup" / "event_date=2024-02-28").mkdir(parents=True)
    # a gold day without bronze (its events moved away) is rolled up again, which removes it
    assert event_dates_to_roll_up(str(tmp_path / "lake"), "2024-03-05") == ["2024-02-28", "2024-03-04"]


def test_a_failing_spark_job_fails_the_step_with_its_last_output_lines():
    with pytest.raises(dg.Failure) as failure:
        SparkJobRunner().run(dg.build_asset_context(), "spark_jobs.compact", ["--received-date", "2024-02-30"])
    assert failure.value.description.startswith(
        "`python -m spark_jobs.compact --received-date 2024-02-30` exited with code 2; its last output lines:")
    assert "argument --received-date: '2024-02-30' is not a date; use YYYY-MM-DD" in failure.value.description
    assert failure.value.metadata["exit_code"].value == 2


def test_make_up_writes_a_dagster_home_whose_instance_loads(tmp_path: Path):
    home = dagster_home(tmp_path)
    assert home == tmp_path / "dagster"
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the config is valid
        assert instance.is_persistent
    assert yaml.safe_load((home / "dagster.yaml").read_text())["concurrency"]["pools"] == {
        "default_limit": 1, "granularity": "op"}
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    dagster_home(tmp_path)  # an edited dagster.yaml is kept
    assert (home / "dagster.yaml").read_text() == "telemetry:\n  enabled: true\n"


def test_partitions_are_utc_days_from_the_configured_start():
    partitions = arrival_days(date(2024, 3, 1))
    assert partitions.get_partition_keys(current_time=datetime(2024, 3, 3, 12, tzinfo=UTC)) == [
        "2024-03-01", "2024-03-02", "2024-03-03"]
