"""A day compacted again (here after a PII policy change and a shorter lateness limit) reaches the marts on
the next incremental run, which leaves the warehouse a full refresh of the new bronze would build."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from analytics_settings import load_settings
from spark_jobs.compact import compact_arrival_day
from spark_jobs.rollup import rollup_days
from tests.conftest import arrival_days_of, query, warehouse_settings
from tests.warehouse.conftest import serve_a_copy
from tests.warehouse.test_incremental import differences, run_and_publish

pytestmark = pytest.mark.slow


def bronze_of_day(lake: Path, day: str, columns: str, where: str = "true") -> list[tuple]:
    """``columns`` of the bronze rows of arrival day ``day`` (``*``: every day), as Spark wrote them."""
    with duckdb.connect() as connection:
        return connection.execute(
            f"select {columns} from read_parquet('{lake}/bronze/events/event_date=*/received_date={day}/*.parquet', "
            f"hive_partitioning = true) where {where}").fetchall()


def test_a_day_compacted_again_replaces_its_rows_everywhere(tmp_path: Path, golden_lake: Path,
                                                            golden_warehouse: Path, spark,
                                                            monkeypatch: pytest.MonkeyPatch):
    # the lateness limit drops to one day below, and provisional days may not exceed it: one day throughout,
    # so the incremental run and the full refresh mark the same days provisional
    monkeypatch.setenv("ANALYTICS_PROVISIONAL_DAYS", "1")
    lake = tmp_path / "lake"
    shutil.copytree(golden_lake, lake)
    incremental = warehouse_settings(tmp_path, lake, "incremental")
    serve_a_copy(golden_warehouse, incremental)  # the warehouse of the bronze before the change
    day = arrival_days_of(lake)[6]
    raw_user_ids = {user_id for (user_id,) in bronze_of_day(lake, day, "distinct user_id") if user_id}
    late = bronze_of_day(lake, day, "count(*) filter (where event_time < received_at - interval 1 day)")[0][0]
    # e-mails (identify traits) that no other day carries: nothing may keep them once the day is hashed
    emails = "distinct traits ->> '$.email'"
    its_emails = {email for (email,) in bronze_of_day(lake, day, emails) if email} - {
        email for (email,) in bronze_of_day(lake, "*", emails, f"received_date <> '{day}'")}
    assert len(raw_user_ids) > 10 and len(its_emails) > 3 and late > 0

    # the source's identifiers are hashed from now on, and events older than a day are quarantined
    monkeypatch.setenv("ANALYTICS_PII_POLICY", '{"web": {"hash_identifiers": true}}')
    monkeypatch.setenv("ANALYTICS_MAX_LATENESS_DAYS", "1")
    lake_settings = load_settings(data_dir=tmp_path, lake_uri=str(lake), spark_shuffle_partitions=2)
    before = bronze_of_day(lake, day, "count(*)")[0][0]
    report = compact_arrival_day(spark, day, lake_settings)
    rollup_days(spark, report.event_dates, lake_settings)
    after = bronze_of_day(lake, day, "count(*)")[0][0]
    hashed_user_ids = {user_id for (user_id,) in bronze_of_day(lake, day, "distinct user_id") if user_id}
    assert after == before - late and not hashed_user_ids & raw_user_ids

    run_and_publish(incremental, day, day)
    full = warehouse_settings(tmp_path, lake, "full")
    run_and_publish(full, None, None, full_refresh=True)
    assert differences(incremental.served_warehouse, full.served_warehouse) == {}

    served = incremental.served_warehouse
    assert query(served, f"select count(*) from marts.fct_events where received_date = date '{day}'") == [(after,)]
    assert {user_id for (user_id,) in query(
        served, f"select distinct user_id from marts.fct_events where received_date = date '{day}' "
                "and user_id is not null")} == hashed_user_ids
    # every user key of the marts is an id bronze holds now: none is left of the raw ids of the day
    ids_in_bronze = {key for (key,) in bronze_of_day(lake, "*", "distinct coalesce(user_id, anonymous_id)")}
    for table in ("marts.dim_users", "marts.dim_sessions", "marts.fct_user_activity_daily",
                  "marts.fct_user_recency_daily", "marts.fct_funnel_progress"):
        assert {key for (key,) in query(served, f"select distinct user_key from {table}")} <= ids_in_bronze, table
    listed = ", ".join(f"'{email}'" for email in sorted(its_emails))
    assert query(served, f"select count(*) from marts.fct_events where traits ->> '$.email' in ({listed})") == [(0,)]
    assert query(served, f"select count(*) from marts.dim_users where email in ({listed})") == [(0,)]

    run_and_publish(incremental, day, day)  # the same day once more changes nothing
    assert differences(incremental.served_warehouse, full.served_warehouse) == {}
