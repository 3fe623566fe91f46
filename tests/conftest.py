"""Fixtures several test packages share: one Spark session, the golden dataset through the lake, and its
warehouse built by real dbt runs."""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Browser, sync_playwright

from analytics_settings import Settings, load_settings
from collector.generator import GeneratorConfig, generate
from collector.generator.sinks import LandingSink
from collector.landing import sealed_files
from spark_jobs.compact import compact_arrival_days
from spark_jobs.rollup import rollup_days
from spark_jobs.session import spark_session
from warehouse import build_and_publish

# The golden dataset: two weeks of a few hundred visitors, with every fault the generator injects (late
# offline sessions arrive up to five days after the last day, so arrival days run to 2024-03-21).
GOLDEN = GeneratorConfig(start=date(2024, 3, 4), users=300, days=14, seed=7)


@pytest.fixture(scope="session")
def spark():
    """One real Spark session for the tests (starting one costs ~8 s)."""
    session, _ = spark_session(load_settings(spark_master="local[2]", spark_shuffle_partitions=4), "tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def golden_data_dir(tmp_path_factory: pytest.TempPathFactory, spark) -> Path:
    """A data folder whose lake holds the golden dataset's landing files, bronze and gold and whose `truth/`
    holds the generator's ground truth."""
    data_dir = tmp_path_factory.mktemp("golden")
    lake = data_dir / "lake"
    generate(GOLDEN, LandingSink(lake, "web", writer_id="golden"), data_dir / "truth")
    compact_every_arrival_day(spark, load_settings(data_dir=data_dir, spark_shuffle_partitions=2))
    return data_dir


def compact_every_arrival_day(spark, settings: Settings) -> None:
    """Compact every landed arrival day of the settings' lake in one pass and roll up the event days they hold
    in one more: the bronze and gold of the daily runs (tests/spark_jobs/test_compact.py proves a range equals
    its days one by one) in a fraction of the time, since a Spark pass costs ~10 s of jobs whatever a day's
    size (the golden lake's 18 days one by one took over 5 minutes)."""
    reports = compact_arrival_days(spark, arrival_days_of(settings.lake_path), settings)
    rollup_days(spark, sorted({day for report in reports for day in report.event_dates}), settings)


@pytest.fixture(scope="session")
def golden_lake(golden_data_dir: Path) -> Path:
    return golden_data_dir / "lake"


def arrival_days_of(lake: Path) -> list[str]:
    """The arrival days that have sealed landing files, in date order."""
    return sorted({path.parent.parent.name.removeprefix("received_date=") for path in sealed_files(lake / "landing")})


@pytest.fixture(scope="session")
def golden_warehouse(tmp_path_factory: pytest.TempPathFactory, golden_lake: Path) -> Path:
    """The served warehouse of one full build of the golden lake (its semantic manifest next to it)."""
    settings = warehouse_settings(tmp_path_factory.mktemp("warehouse"), golden_lake, "full")
    return build_and_publish(settings)


# The ML dataset: nine weeks, long enough for weekly churn snapshots whose 14-day label windows closed (visitors
# first arrive in the first half, so the snapshots of the second half see weeks of history).
ML = GeneratorConfig(start=date(2024, 1, 1), users=1500, days=63, seed=14)


@dataclass(frozen=True)
class MlWarehouse:
    """The served warehouse of the ML dataset, the data folder whose lake it was built from (arrival days
    compacted, rolled up) and the generator's ground truth."""

    served: Path
    data_dir: Path
    truth: Path


def build_ml_warehouse(data_dir: Path, spark) -> MlWarehouse:
    """Generate :data:`ML` into ``data_dir``'s landing zone, compact every arrival day in one pass, roll up
    and build the warehouse (one full dbt build)."""
    lake = data_dir / "lake"
    generate(ML, LandingSink(lake, "web", writer_id="ml"), data_dir / "truth")
    settings = warehouse_settings(data_dir, lake, "warehouse")
    compact_every_arrival_day(spark, settings)
    return MlWarehouse(build_and_publish(settings), data_dir, data_dir / "truth")


@pytest.fixture(scope="session")
def ml_warehouse(tmp_path_factory: pytest.TempPathFactory, spark) -> MlWarehouse:
    """Nine weeks of 1,500 visitors through the lake into a served warehouse, for the models (~3 min)."""
    return build_ml_warehouse(tmp_path_factory.mktemp("ml"), spark)


@pytest.fixture(scope="session")
def empty_mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], None]:
    """Gives a data folder an empty MLflow store (``<data_dir>/mlflow/mlflow.db``, as ``ml.tracking`` creates it):
    a copy of one created once, since creating a store runs every MLflow migration (10-20 s) and copying the
    migrated file takes a fraction of a second. Tests of the store's creation itself start from nothing."""
    from ml import tracking

    template = load_settings(data_dir=tmp_path_factory.mktemp("mlflow-template"))
    tracking.configure(template)
    database = template.data_dir / "mlflow" / "mlflow.db"

    def give(data_dir: Path) -> None:
        (data_dir / "mlflow").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(database, data_dir / "mlflow" / "mlflow.db")

    return give


def warehouse_settings(data_dir: Path, lake: Path, name: str) -> Settings:
    """Settings that read ``lake`` and keep warehouse ``name`` in ``data_dir``."""
    return load_settings(data_dir=data_dir, lake_uri=str(lake), duckdb_memory_limit="1GB",
                         warehouse_path=data_dir / name / "analytics.duckdb")


def query(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        return connection.execute(sql).fetchall()


def free_port() -> int:
    """A loopback port nobody listens on right now (another process could take it before we do)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright (its own browser download does not work here)."""
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        pytest.fail("Chromium is missing: apt-get install -y chromium (the Makefile does it on fresh machines)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True,
            args=["--no-sandbox", "--disable-background-networking", "--disable-component-update",
                  "--disable-gpu"])
        yield launched
        launched.close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def static_site(root: Path) -> Iterator[str]:
    """The files under ``root`` over HTTP on a loopback port of their own; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


LOCK_HOLDER = """
import sys, time
from analytics_settings import load_settings
from warehouse.lock import warehouse_lock
with warehouse_lock(load_settings(), "hold it for a test"):
    print("held", flush=True)
    time.sleep(float(sys.argv[1]))
"""


def start_lock_holder(data_dir: Path, seconds: float) -> subprocess.Popen:
    """Another process holding the warehouse lock of ``data_dir`` for ``seconds`` (it holds it on return)."""
    script = data_dir / "lock_holder.py"
    script.write_text(LOCK_HOLDER)
    holder = subprocess.Popen([sys.executable, str(script), str(seconds)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "ANALYTICS_DATA_DIR": str(data_dir)})
    assert holder.stdout.readline() == "held\n"
    return holder
