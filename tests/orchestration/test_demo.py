"""`make demo` on a small size, as a user runs it: a short line per stage, the logs in a file, headlines equal
to the generator's truth, the models trained and the users scored, and the same figures when run again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from analytics_settings import REPO_ROOT
from tests.conftest import free_port

# two runs of the whole chain: Spark twice, dbt, Dagster and three trainings (~5 min on a quiet machine, far more
# on a busy one)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(4000)]
ML_STAGES = ["churn", "ltv", "segments"]
STAGES = ["traffic", "quality", "compaction", "quality", "rollup", "quality", "warehouse", "quality", *ML_STAGES,
          "scores"]
# 42 days: churn's three weekly snapshots, whose 14-day label windows close before the first provisional day
# (the 5 days up to today), start after the first event day
DAYS, USERS = 42, 300


def run_demo(data_dir: Path, port: int) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ANALYTICS_", "DAGSTER_"))}
    env.update(ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_COLLECTOR_PORT=str(port),
               ANALYTICS_SPARK_SHUFFLE_PARTITIONS="2", ANALYTICS_DUCKDB_MEMORY_LIMIT="1GB")
    return subprocess.run([sys.executable, "-m", "orchestration.demo", "--days", str(DAYS), "--users", str(USERS)],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=2000, check=False)


def human_events_landed(lake: Path, truth_folder: Path) -> int:
    """Distinct messageIds in the landing zone (the landing sink's and the collector's files) of the visitors
    the generator's truth says are human: what the `events` metric counts."""
    bot_ids = {identity for user in pq.read_table(truth_folder / "users.parquet").to_pylist() if user["is_bot"]
               for identity in (user["user_id"], *user["anonymous_ids"]) if identity}
    is_bot = {}
    for path in (lake / "landing").rglob("*.ndjson"):
        for line in path.read_bytes().splitlines():
            event = json.loads(line)
            is_bot[event["messageId"]] = event.get("anonymousId") in bot_ids or event.get("userId") in bot_ids
    return sum(not bot for bot in is_bot.values())


def headline(output: str, label: str) -> str:
    return re.search(rf"^  {label} +(.+)$", output, re.MULTILINE)[1]


def model_lines(output: str) -> dict[str, list[str]]:
    """Each model's stage line without its time, then its detail lines (figures, the registry's decision)."""
    lines = output.splitlines()
    found = {}
    for index, line in enumerate(lines):
        name = line.split(" ", 1)[0]
        if name in ML_STAGES and re.search(r" \d+ s$", line):
            found[name] = [re.sub(r" +\d+ s$", "", line), *(detail.strip() for detail in lines[index + 1:index + 3])]
    return found


def served_scores(data_dir: Path) -> tuple:
    """The served warehouse's scores of the latest as-of date: users, users with a churn probability, users with
    a predicted revenue and a segment, and the champions' versions that scored them."""
    with duckdb.connect(str(data_dir / "warehouse" / "analytics.duckdb"), read_only=True) as connection:
        return connection.execute(
            "select as_of_date, count(*), count(churn_probability), count(predicted_revenue), count(segment), "
            "list(distinct churn_model_version), list(distinct ltv_model_version), "
            "list(distinct segments_model_version) from marts.fct_user_scores "
            "where as_of_date = (select max(as_of_date) from marts.fct_user_scores) group by as_of_date").fetchall()[0]


def test_the_demo_is_short_exact_and_idempotent(tmp_path: Path):
    first = run_demo(tmp_path, free_port())
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stderr == ""  # Spark, dbt, Dagster and the collector wrote to the log file only
    lines = first.stdout.splitlines()
    assert len(lines) < 50, first.stdout
    stages = [line.split()[0] for line in lines if re.match(r"[a-z]+  +.* \d+ s$", line)]
    assert stages == STAGES, first.stdout
    # at this small size a few early bronze days get a non-blocking warning (severity `warning`), never a failure
    assert all(re.search(r" (passed|warn)(, (passed|warn))* ", line) for line in lines if line.startswith("quality "))

    log = Path(re.search(r"^full logs .*: (\S+)$", first.stdout, re.MULTILINE)[1])
    assert log.parent == tmp_path / "logs"
    logged = log.read_text()
    assert "spark_jobs.compact" in logged and "Completed successfully" in logged  # Spark's and dbt's output

    [truth_folder] = (tmp_path / "generator").glob("demo-*/truth")
    truth = json.loads((truth_folder / "counts.json").read_text())
    landed, via_collector, later = (int(n.replace(",", "")) for n in re.search(
        r"^traffic +([\d,]+) events landed, ([\d,]+) via the collector, ([\d,]+) later", first.stdout,
        re.MULTILINE).groups())
    assert landed + via_collector + later == truth["landing_lines"] and via_collector > 0
    assert headline(first.stdout, "events") == f"{human_events_landed(tmp_path / 'lake', truth_folder):,}"
    assert re.fullmatch(r"[\d,]+\.\d\d USD", headline(first.stdout, "revenue"))  # the reporting currency

    trained = model_lines(first.stdout)
    assert re.fullmatch(r"churn +ROC AUC 0\.\d{3} vs 0\.\d{3} recency baseline", trained["churn"][0]), first.stdout
    assert re.fullmatch(r"ltv +(bg_nbd_gamma_gamma|lightgbm) RMSE [\d.]+ vs [\d.]+ naive baseline", trained["ltv"][0])
    assert re.match(r"candidate (bg_nbd_gamma_gamma|lightgbm) over \d+ days: Spearman ", trained["ltv"][1])
    assert re.fullmatch(r"segments +\d segments, silhouette 0\.\d{3}", trained["segments"][0])
    # a fresh registry: every kind that passed its gates is version 1 and champion
    decisions = {name: lines[2] for name, lines in trained.items()}
    champions = {name: 1 if "first" in decision else None for name, decision in decisions.items()}
    assert all(champions[name] or decision.startswith("recorded, not registered") for name, decision in
               decisions.items()), decisions
    assert champions["segments"] == 1  # segments has no gate
    as_of, users, churn_scored, revenue_scored, segmented, *versions = scores = served_scores(tmp_path)
    assert re.search(rf"^scores +{users:,} users scored as of {as_of}, {churn_scored:,} for churn +\d+ s$",
                     first.stdout, re.MULTILINE), first.stdout
    assert users > 0 and segmented == users and revenue_scored == (users if champions["ltv"] else 0)
    assert (churn_scored > 0) == bool(champions["churn"])
    assert versions == [[champions[name]] for name in ML_STAGES]
    assert "MLflow UI         http://127.0.0.1:5000" in first.stdout and "http://127.0.0.1:8000/docs" in first.stdout

    again = run_demo(tmp_path, free_port())
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already landed" in again.stdout and "already up to date" in again.stdout
    shown = first.stdout[first.stdout.index("headlines"):first.stdout.index("\nopen")]
    assert shown == again.stdout[again.stdout.index("headlines"):again.stdout.index("\nopen")]
    # training again on the same data: the same figures, and no new champion
    retrained = model_lines(again.stdout)
    assert {name: lines[:2] for name, lines in retrained.items()} == {name: lines[:2] for name, lines in trained.items()}
    for name, lines in retrained.items():
        assert ("version 1 stays champion" in lines[2]) if champions[name] else lines[2] == decisions[name], lines
    assert served_scores(tmp_path) == scores
