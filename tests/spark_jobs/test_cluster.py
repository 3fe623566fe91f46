"""The compaction gives the same bronze on ``local[*]`` and on a real Spark standalone cluster.

A master and two one-core workers are started on loopback from the installed pyspark (``spark-class``);
the lake is a local folder every executor sees, since they all run on this machine. The same arrival day
(landing files from the generator's landing sink) is compacted in two copies of a lake, once per master,
by ``python -m spark_jobs.compact`` as a subprocess, and both bronze outputs must hold exactly the same
rows, in the same folders and files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest

from collector.generator.model import GeneratorConfig
from collector.generator.run import generate
from collector.generator.sinks import LandingSink
from tests.conftest import free_port

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 3, 2)
USERS = 300  # about 3,000 events arriving on DAY
CLUSTER_START_TIMEOUT_SECONDS = 60.0
COMPACT_TIMEOUT_SECONDS = 240.0


def spark_home() -> Path:
    """The Spark distribution that ships inside the pyspark package (``bin/``, ``sbin/``, ``jars/``)."""
    import importlib.util

    spec = importlib.util.find_spec("pyspark")
    assert spec is not None and spec.origin is not None, "pyspark is not installed"
    return Path(spec.origin).parent


@dataclass
class StandaloneCluster:
    master_url: str
    web_url: str
    log_dir: Path
    processes: list[subprocess.Popen]

    def wait_ready(self) -> None:
        """Wait until the master lists both workers as ALIVE (the daemons start in the background)."""
        _wait_for(lambda: _master_state(self.web_url), self, "the master's web UI")
        _wait_for(lambda: sum(w.get("state") == "ALIVE" for w in _master_state(self.web_url).get("workers", []))
                  == 2, self, "2 ALIVE workers")

    def logs(self) -> str:
        return "\n".join(f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
                         for path in sorted(self.log_dir.glob("*.log")))


def _stop(processes: list[subprocess.Popen]) -> None:
    """Stop the daemons this test started, by pid: SIGTERM, then SIGKILL if one ignores it."""
    for process in reversed(processes):
        if process.poll() is None:
            process.terminate()
    for process in reversed(processes):
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _master_state(web_url: str) -> dict:
    with urllib.request.urlopen(f"{web_url}/json/", timeout=2) as answer:
        return json.load(answer)


@pytest.fixture
def spark_cluster(tmp_path: Path) -> Iterator[StandaloneCluster]:
    home = spark_home()
    log_dir = tmp_path / "cluster-logs"
    log_dir.mkdir()
    master_port, master_web = free_port(), free_port()
    master_url = f"spark://127.0.0.1:{master_port}"
    web_url = f"http://127.0.0.1:{master_web}"
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(log_dir), "SPARK_PID_DIR": str(tmp_path),
           "PYSPARK_PYTHON": sys.executable, "SPARK_NO_DAEMONIZE": "1"}
    env.pop("SPARK_CONF_DIR", None)
    spark_class = str(home / "bin" / "spark-class")
    commands = {
        "master": [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                   "--port", str(master_port), "--webui-port", str(master_web)],
        **{f"worker-{i}": [spark_class, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                           "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
                           "--work-dir", str(tmp_path / f"worker-{i}"), master_url]
           for i in (1, 2)},
    }
    processes: list[subprocess.Popen] = []
    cluster = StandaloneCluster(master_url, web_url, log_dir, processes)
    try:
        for name, command in commands.items():
            (tmp_path / name).mkdir(exist_ok=True)
            with open(log_dir / f"{name}.log", "wb") as log:
                processes.append(subprocess.Popen(
                    command, env={**env, "SPARK_WORKER_DIR": str(tmp_path / name)}, cwd=tmp_path,
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        yield cluster  # still starting: the test calls wait_ready() when it needs the cluster
    finally:
        _stop(processes)


def _wait_for(check, cluster: StandaloneCluster, what: str) -> None:
    deadline = time.monotonic() + CLUSTER_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        for process in cluster.processes:
            if process.poll() is not None:
                pytest.fail(f"a Spark daemon exited with {process.returncode} while waiting for {what}\n"
                            f"{cluster.logs()}")
        try:
            if check():
                return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    pytest.fail(f"no {what} within {CLUSTER_START_TIMEOUT_SECONDS:g} s\n{cluster.logs()}")


def _generate_arrival_day(data_dir: Path) -> None:
    lake = data_dir / "lake"
    generate(GeneratorConfig(start=DAY, users=USERS, days=1, seed=11),
             LandingSink(lake, "web", writer_id="gen-cluster-test"), data_dir / "generator" / "truth")


@dataclass
class Compaction:
    """``python -m spark_jobs.compact`` for DAY in ``data_dir``'s lake, running as a subprocess."""

    data_dir: Path
    master: str
    log: Path
    process: subprocess.Popen

    @classmethod
    def start(cls, data_dir: Path, master: str, log: Path) -> Compaction:
        env = {**os.environ, "ANALYTICS_DATA_DIR": str(data_dir), "ANALYTICS_SPARK_MASTER": master,
               "ANALYTICS_SPARK_DRIVER_MEMORY": "1g", "ANALYTICS_SPARK_EXECUTOR_MEMORY": "512m",
               "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
               "PYSPARK_DRIVER_PYTHON": sys.executable}
        for name in ("ANALYTICS_LAKE_URI", "SPARK_HOME", "SPARK_CONF_DIR"):
            env.pop(name, None)
        with open(log, "wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "spark_jobs.compact", "--received-date", DAY.isoformat(),
                 "--report", str(data_dir / "report.json")],
                cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT)
        return cls(data_dir, master, log, process)

    def report(self) -> dict:
        try:
            code = self.process.wait(timeout=COMPACT_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"compaction on {self.master} took over {COMPACT_TIMEOUT_SECONDS:g} s:\n{self._tail()}")
        assert code == 0, f"compaction on {self.master} failed ({code}):\n{self._tail()}"
        return json.loads((self.data_dir / "report.json").read_text())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def _tail(self) -> str:
        return self.log.read_text(errors="replace")[-5000:]


def _bronze_files(lake: Path) -> list[str]:
    root = lake / "bronze" / "events"
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")
                  if not any(part.startswith((".", "_")) for part in path.relative_to(root).parts))


def _bronze_rows(lake: Path) -> tuple[list[str], list[tuple]]:
    glob = str(lake / "bronze" / "events" / "*" / "*" / "*.parquet")
    with duckdb.connect() as db:
        result = db.execute(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true) "
                            "ORDER BY message_id")
        columns = [d[0] for d in result.description]
        return columns, result.fetchall()


def test_compaction_on_a_standalone_cluster_matches_local(tmp_path: Path, spark_cluster: StandaloneCluster) -> None:
    local_dir, cluster_dir = tmp_path / "local", tmp_path / "cluster"
    _generate_arrival_day(local_dir)
    shutil.copytree(local_dir / "lake", cluster_dir / "lake")

    # the local run overlaps the cluster's start-up; both are mostly JVM and Spark start-up latency
    local = Compaction.start(local_dir, "local[*]", tmp_path / "compact-local.log")
    try:
        spark_cluster.wait_ready()
        cluster = Compaction.start(cluster_dir, spark_cluster.master_url, tmp_path / "compact-cluster.log")
        try:
            local_report, cluster_report = local.report(), cluster.report()
        finally:
            cluster.stop()
    finally:
        local.stop()

    # the job really ran on the cluster: the master lists it as a completed application
    applications = _master_state(spark_cluster.web_url).get("completedapps", [])
    assert any(app.get("name") == f"compact {DAY}" for app in applications), spark_cluster.logs()

    assert local_report["rows_in"] > 1000
    assert local_report["rows_out"] > 0
    counts = ("landing_files", "rows_in", "rows_out", "duplicates_within_day", "duplicates_across_days",
              "late_events", "clamped_events", "offline_queued_events", "bot_events", "quarantined", "event_dates")
    assert {k: cluster_report[k] for k in counts} == {k: local_report[k] for k in counts}

    local_files, cluster_files = _bronze_files(local_dir / "lake"), _bronze_files(cluster_dir / "lake")
    assert local_files, "the local compaction wrote no bronze files"
    assert any(f.endswith(f"received_date={DAY}") for f in local_files)
    assert cluster_files == local_files

    local_columns, local_rows = _bronze_rows(local_dir / "lake")
    cluster_columns, cluster_rows = _bronze_rows(cluster_dir / "lake")
    assert cluster_columns == local_columns
    assert {"message_id", "event_date", "received_date"} <= set(local_columns)
    assert len(local_rows) == local_report["rows_out"]
    assert len({row[local_columns.index("message_id")] for row in local_rows}) == len(local_rows)
    assert len(cluster_rows) == len(local_rows)
    for local_row, cluster_row in zip(local_rows, cluster_rows):
        assert cluster_row == local_row
