"""The PII salt never appears in Spark's plans, logs or error messages: a canary salt through a real
``python -m spark_jobs.compact`` with Spark's event log on (every query's plans are in it), then a run that
fails on a damaged bronze file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from spark_jobs.enrich import salted_hash
from tests.spark_jobs.test_compact import R1, R1_LINES, R2, R2_LINES, land

REPO_ROOT = Path(__file__).resolve().parents[2]
CANARY_SALT = "canary-salt-8d31f0a7c2"
JOB_TIMEOUT_SECONDS = 600  # a loaded machine; a run takes ~20 s when idle


def compact(data_dir: Path, event_log: Path, day: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    env.update(ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_PII_SALT=CANARY_SALT,
               ANALYTICS_PII_POLICY=json.dumps({"crm": {"ip": "drop", "hash_identifiers": True}}),
               ANALYTICS_SPARK_MASTER="local[2]", ANALYTICS_SPARK_SHUFFLE_PARTITIONS="2",
               PYSPARK_SUBMIT_ARGS=f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir={event_log.as_uri()} "
                                   "--conf spark.eventLog.compress=false pyspark-shell")
    return subprocess.run([sys.executable, "-m", "spark_jobs.compact", "--received-date", day], check=False, cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=JOB_TIMEOUT_SECONDS)


def test_canary_salt_is_in_no_plan_log_or_error(tmp_path):
    lake, event_log = tmp_path / "lake", tmp_path / "spark-events"
    event_log.mkdir()
    land(lake, R1, R1_LINES)
    land(lake, R2, R2_LINES)

    done = compact(tmp_path, event_log, R1)
    assert done.returncode == 0, done.stderr[-3000:]
    hashed = duckdb.sql(f"select user_id from read_parquet('{lake}/bronze/events/**/*.parquet') "
                        "where message_id = 'm9'").fetchall()
    assert hashed == [(salted_hash("u9", CANARY_SALT),)]  # the salt was used

    for parquet in lake.glob(f"bronze/events/*/received_date={R1}/*.parquet"):
        parquet.write_bytes(b"a damaged file")  # day R2 dedups against R1's bronze: its run fails reading it
    failed = compact(tmp_path, event_log, R2)
    assert failed.returncode != 0 and "a damaged file" not in failed.stderr and "Error" in failed.stderr

    logs = [path for path in event_log.rglob("*") if path.is_file()]
    text = "".join(path.read_text(errors="replace") for path in logs)
    assert len(list(event_log.iterdir())) == 2  # one event log per run
    assert "SparkListenerSQLExecutionStart" in text and "hmac(" in text  # with the plans of every query
    for output in (done.stdout, done.stderr, failed.stdout, failed.stderr, text):
        assert CANARY_SALT not in output
