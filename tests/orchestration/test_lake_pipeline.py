"""A generated day through the Dagster lake assets, with real Spark jobs, checked against the generator's truth.

The generator's day arrives on three days (late sessions arrive days later): the first arrival day is
materialized alone, as the sensor would, and the two late ones in one run, as a backfill (`make pipeline`
catching up) would (one Spark job per asset for both: each job is a JVM start); every event belongs to the
generated day.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import orjson
import pytest

from collector.generator import GeneratorConfig, generate
from collector.generator.sinks import LandingSink
from collector.landing import sealed_files
from orchestration.definitions import defs
from orchestration.lake.resources import SparkJobRunner
from orchestration.pipeline import RANGE_END, RANGE_START

DAY = "2024-03-04"
CONFIG = GeneratorConfig(start=date.fromisoformat(DAY), users=200, days=1, seed=3)


@pytest.mark.slow
def test_generated_day_through_bronze_and_gold_matches_the_truth(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(tmp_path))  # the Spark subprocesses inherit the environment
    monkeypatch.setenv("ANALYTICS_SPARK_SHUFFLE_PARTITIONS", "2")
    lake = tmp_path / "lake"
    generate(CONFIG, LandingSink(lake, "web", writer_id="t"), tmp_path / "truth")
    truth = json.loads((tmp_path / "truth" / "counts.json").read_text())
    landing = {day: [orjson.loads(line) for path in sealed_files(lake / "landing", day)
                     for line in path.read_bytes().splitlines()]
               for day in sorted({p.parent.parent.name.removeprefix("received_date=")
                                  for p in sealed_files(lake / "landing")})}
    assert list(landing) == ["2024-03-04", "2024-03-07", "2024-03-08"]
    assert sum(map(len, landing.values())) == truth["landing_lines"] == truth["events"] + truth["duplicates"]
    assert len({e["messageId"] for events in landing.values() for e in events}) == truth["events"]

    definitions = defs()
    assets = [definitions.get_assets_def(["bronze", "events"]),
              definitions.get_assets_def(["gold", "daily_event_rollup"])]
    runs = [(DAY,), ("2024-03-07", "2024-03-08")]
    bronze, gold = {}, {}
    with dg.DagsterInstance.ephemeral() as instance:
        for days in runs:
            # one day as the sensor asks for it (a partition), a range as a backfill does (its first and last day)
            partitions = ({"partition_key": days[0]} if len(days) == 1 else
                          {"tags": {RANGE_START: days[0], RANGE_END: days[-1]}})
            result = dg.materialize(assets, instance=instance, resources={"spark": SparkJobRunner()}, **partitions)
            assert result.success
            materialized = {m.asset_key.to_user_string(): {k: getattr(v, "value", v) for k, v in m.metadata.items()}
                            for m in result.get_asset_materialization_events()
                            for m in [m.event_specific_data.materialization]}
            bronze[days], gold[days] = materialized["bronze/events"], materialized["gold/daily_event_rollup"]

    for days in runs:
        meta = bronze[days]
        unique = {day: len({e["messageId"] for e in landing[day]}) for day in days}
        assert meta["rows_in"] == sum(len(landing[day]) for day in days)
        assert meta["duplicates_within_day"] == sum(len(landing[day]) - unique[day] for day in days)
        assert meta["rows_out"] + meta["duplicates_across_days"] == sum(unique.values())
        assert meta["late_events"] == (0 if days == (DAY,) else meta["rows_out"])
        assert meta["event_dates"] == [DAY]
        assert meta["paths"] == [f"{lake}/bronze/events/event_date={DAY}/received_date={day}" for day in days]
        assert meta["quarantined_total"] == 0 and meta["quarantined_by_reason"] == {}
        assert meta["dagster/row_count"] == meta["rows_out"] and meta["bytes_written"] > 0
        assert gold[days]["event_dates"] == [DAY]  # the event day these arrivals touched, rolled up again
    assert sum(m["rows_out"] for m in bronze.values()) == truth["events"]
    assert sum(m["duplicates_within_day"] + m["duplicates_across_days"] for m in bronze.values()) == truth[
        "duplicates"]
    assert sum(m["bot_events"] for m in bronze.values()) == truth["bot_events"]

    rows, distinct_ids, per_day = duckdb.connect().execute(
        f"select count(*), count(distinct message_id), count(*) filter (where event_date = '{DAY}') "
        f"from read_parquet('{lake}/bronze/events/*/*/*.parquet', hive_partitioning = true)").fetchone()
    assert rows == distinct_ids == truth["events"] == per_day == truth["events_by_date"][DAY]
    last = gold[runs[-1]]
    assert last["events_by_event_date"] == {DAY: truth["events"]}
    assert last["events_total"] == rows
    assert last["paths"] == [f"{lake}/gold/daily_event_rollup/event_date={DAY}"]
