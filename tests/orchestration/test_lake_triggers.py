"""When the lake runs: the daily schedule, the sealed-files sensor, and how a failing Spark job is reported."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
import yaml

from lake import compaction_record
from orchestration.lake.assets import arrival_days, event_dates_to_roll_up
from orchestration.lake.resources import SparkJobRunner
from orchestration.schedules import daily_schedule
from orchestration.sensors import landing_sealed_files_sensor
from orchestration.up import dagster_home


@pytest.fixture(params=["folder", "file-uri"])
def lake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Path:
    """The lake folder; the settings name it as the default folder, or as a ``file://`` URI."""
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))
    if request.param == "file-uri":
        monkeypatch.setenv("ANALYTICS_LAKE_URI", f"file://{tmp_path}/lake")
    monkeypatch.setenv("ANALYTICS_PIPELINE_START_DATE", "2024-01-01")
    return tmp_path / "lake"


def _seal(lake: Path, day: str, name: str, data: bytes) -> None:
    folder = lake / "landing" / f"received_date={day}" / "hour=00"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.ndjson").write_bytes(data)
    (folder / f"{name}.ndjson.open").write_bytes(b"open files are never read\n")


def _tick() -> list[tuple[str, str]]:
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance)
        return [(request.partition_key, request.run_key) for request in landing_sealed_files_sensor(context)]


def _record_compaction(lake: Path, day: str, files: list[str]) -> None:
    """What the compaction writes once it committed ``day``: the landing files it read."""
    record = lake.joinpath(*compaction_record(day))
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"landing_files": [f"received_date={day}/hour=00/{name}.ndjson" for name in files],
                                  "compacted_at": "2024-03-05T00:31:00+00:00"}))


def _key(day: str, names: list[str]) -> str:
    files = "\n".join(f"received_date={day}/hour=00/{name}.ndjson" for name in names)
    return f"{day}:{len(names)}:{hashlib.sha256(files.encode()).hexdigest()[:16]}"


def test_schedule_runs_yesterdays_arrival_day(lake: Path):
    context = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 3, 5, 0, 30, tzinfo=UTC))
    request = daily_schedule(context)
    assert (request.partition_key, request.run_key) == ("2024-03-04", "2024-03-04")
    assert daily_schedule.cron_schedule == "30 0 * * *"
    assert daily_schedule.execution_timezone == "UTC"

    first = dg.build_schedule_context(scheduled_execution_time=datetime(2024, 1, 1, 0, 30, tzinfo=UTC))
    assert isinstance(daily_schedule(first), dg.SkipReason)  # 2023-12-31 is before the start date


def test_sensor_requests_the_arrival_days_with_files_no_compaction_read(lake: Path):
    today = datetime.now(UTC).date()
    future = (today + timedelta(days=2)).isoformat()
    _seal(lake, "2023-12-31", "a", b"1\n")  # before ANALYTICS_PIPELINE_START_DATE: not a partition
    _seal(lake, "2024-03-04", "a", b"12\n")
    _seal(lake, "2024-03-05", "a", b"123\n")
    _seal(lake, today.isoformat(), "a", b"1234\n")  # today's partition exists (end_offset=1)
    _seal(lake, future, "a", b"1\n")  # a clock far ahead: not a partition yet
    assert _tick() == [("2024-03-04", _key("2024-03-04", ["a"])), ("2024-03-05", _key("2024-03-05", ["a"])),
                       (today.isoformat(), _key(today.isoformat(), ["a"]))]

    _record_compaction(lake, "2024-03-04", ["a"])
    _record_compaction(lake, "2024-03-05", ["a"])
    _record_compaction(lake, today.isoformat(), ["a"])
    assert _tick() == []  # every file read

    # sealed while the run of 2024-03-04 was compacting, with a modification time long before that run
    _seal(lake, "2024-03-04", "b", b"123456\n")
    sealed = lake / "landing" / "received_date=2024-03-04" / "hour=00" / "b.ndjson"
    os.utime(sealed, (946684800, 946684800))
    assert _tick() == [("2024-03-04", _key("2024-03-04", ["b"]))]


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
