"""The enrichment's distinct values are parsed on the executors, and a kind with too many of them to broadcast
is joined by a shuffle, with the same bronze rows."""

from __future__ import annotations

import pyspark.sql.functions as F
import pytest

from analytics_settings import load_settings
from spark_jobs import compact as compaction
from tests.spark_jobs import test_compact as cases


@pytest.fixture
def settings(tmp_path):
    cases.land(tmp_path / "lake", cases.R1, cases.R1_LINES, [b"{not json"])
    cases.land(tmp_path / "lake", cases.R2, cases.R2_LINES)
    return load_settings(data_dir=tmp_path, pii_salt=cases.SALT,
                         pii_policy={"crm": {"ip": "drop", "hash_identifiers": True}})


def test_distinct_values_are_parsed_by_the_executors(spark, settings, capsys):
    landed = [str(path) for path in (settings.lake_path / "landing" / f"received_date={cases.R1}").rglob("*.ndjson")]
    rows = compaction.parse_lines(compaction.read_landing(spark, {cases.R1: landed}), settings)
    lookups = compaction.build_lookups(rows.where(F.col("problem").isNull()), settings)
    try:
        lookups.user_agents.explain()
        assert "MapInArrow" in capsys.readouterr().out  # a Python worker per task, not the driver
        assert {row[0] for row in lookups.user_agents.collect()} == {
            cases.CHROME, cases.GOOGLEBOT, cases.R1_LINES[4]["context"]["userAgent"]}
        assert sorted(lookups.ips.collect()) == [
            ("2001:4860:4860::8888", "US", "2001:4860:4860::"), ("66.249.66.1", "US", "66.249.66.0"),
            ("81.2.69.142", "GB", "81.2.69.0")]
        assert lookups.sources == {"web", "crm"}
    finally:
        lookups.table.unpersist()


def test_lookups_too_big_to_broadcast_give_the_same_bronze(spark, settings, tmp_path, monkeypatch):
    monkeypatch.setattr(compaction, "MAX_BROADCAST_LOOKUP_ROWS", 0)  # every kind joined by a shuffle
    cases.test_first_arrival_day(spark, settings, tmp_path)
