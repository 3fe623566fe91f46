"""`make demo` on a small size, as a user runs it: a short line per stage, the logs in a file, headlines equal
to the generator's truth, and the same figures when run again."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from analytics_settings import REPO_ROOT
from tests.conftest import free_port

# two runs of the whole chain: Spark twice, dbt and Dagster (~3 min on a quiet machine, far more on a busy one)
pytestmark = [pytest.mark.slow, pytest.mark.timeout(4000)]
STAGES = ["traffic", "quality", "compaction", "quality", "rollup", "quality", "warehouse", "quality"]


def run_demo(data_dir: Path, port: int) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ANALYTICS_", "DAGSTER_"))}
    env.update(ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_COLLECTOR_PORT=str(port),
               ANALYTICS_SPARK_SHUFFLE_PARTITIONS="2", ANALYTICS_DUCKDB_MEMORY_LIMIT="1GB")
    return subprocess.run([sys.executable, "-m", "orchestration.demo", "--days", "3", "--users", "150"],
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


def test_the_demo_is_short_exact_and_idempotent(tmp_path: Path):
    first = run_demo(tmp_path, free_port())
    assert first.returncode == 0, first.stdout + first.stderr
    assert first.stderr == ""  # Spark, dbt, Dagster and the collector wrote to the log file only
    lines = first.stdout.splitlines()
    assert len(lines) < 40, first.stdout
    stages = [line.split()[0] for line in lines if re.match(r"[a-z]+  +.* \d+ s$", line)]
    assert stages == STAGES, first.stdout
    assert all("passed" in line for line in lines if line.startswith("quality "))

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

    again = run_demo(tmp_path, free_port())
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already landed" in again.stdout and "already up to date" in again.stdout
    shown = first.stdout[first.stdout.index("headlines"):first.stdout.index("\nopen")]
    assert shown == again.stdout[again.stdout.index("headlines"):again.stdout.index("\nopen")]
