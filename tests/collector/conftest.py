"""A real collector process for tests: ``collector_server(**options)`` starts ``python -m collector``.

Each server gets its own data dir and port, logs to a file (its path is in every failure message), is
stopped with SIGTERM (which seals the landing files) and is killed at teardown if it is still running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_WRITE_KEYS = "web=wk_test"
STARTUP_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0


def read_ndjson_events(files: list[Path]) -> list[dict]:
    """The events of landing files in order; a last line without newline (being written) is skipped."""
    events = []
    for path in files:
        try:
            data = path.read_bytes()
        except FileNotFoundError:  # sealed (renamed) between the glob and the read
            sealed = path.with_name(path.name.removesuffix(".open"))
            data = sealed.read_bytes() if sealed.exists() else b""
        complete, _, _torn = data.rpartition(b"\n")
        events.extend(json.loads(line) for line in complete.splitlines() if line.strip())
    return events


@dataclass
class CollectorServer:
    """A running ``python -m collector``; ``url`` is its base URL, ``lake`` its lake root."""

    port: int
    data_dir: Path
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    @property
    def landing(self) -> Path:
        return self.lake / "landing"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def landing_files(self, zone: str = "landing", include_open: bool = True) -> list[Path]:
        root = self.lake / zone
        files = list(root.glob("**/received_date=*/hour=*/*.ndjson"))
        if include_open:
            files += root.glob("**/received_date=*/hour=*/*.ndjson.open")
        return sorted(files)

    def landed_events(self, zone: str = "landing") -> list[dict]:
        """Every event in the zone's sealed and open files (``zone``: ``landing`` or ``quarantine``)."""
        return read_ndjson_events(self.landing_files(zone))

    def wait_for_events(self, predicate: Callable[[list[dict]], bool], timeout: float = 15.0,
                        zone: str = "landing") -> list[dict]:
        """Poll the landed events until ``predicate(events)`` holds; fails with what did land."""
        deadline = time.monotonic() + timeout
        while True:
            events = self.landed_events(zone)
            if predicate(events):
                return events
            if time.monotonic() > deadline:
                summary = [(e.get("type"), e.get("event") or e.get("name")) for e in events]
                pytest.fail(f"collector on port {self.port}: condition not met after {timeout}s; "
                            f"landed {summary}; log {self.log_path}")
            if not self.running:
                pytest.fail(f"collector on port {self.port} exited ({self.process.returncode}):\n"
                            f"{self.log()[-3000:]}")
            time.sleep(0.1)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS, check: bool = True) -> int:
        """SIGTERM (graceful: open landing files are sealed), SIGKILL after ``timeout``; the exit code.

        With ``check`` the test fails unless the process exited gracefully.
        """
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
                pytest.fail(f"collector on port {self.port} ignored SIGTERM for {timeout}s and was killed; "
                            f"log {self.log_path}")
        if check and self.process.returncode != 0:
            pytest.fail(f"collector on port {self.port} exited with {self.process.returncode}:\n"
                        f"{self.log()[-3000:]}")
        return self.process.returncode

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def start_collector(data_dir: Path, log_path: Path, port: int | None = None,
                    write_keys: str = DEFAULT_WRITE_KEYS, env: Mapping[str, str] | None = None,
                    timeout: float = STARTUP_TIMEOUT_SECONDS) -> CollectorServer:
    """Start ``python -m collector`` and return once ``/healthz`` answers 200."""
    port = port or free_port()
    # Only the variables given here reach the collector, so a developer's ANALYTICS_* cannot leak in.
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    child_env.update(ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_WRITE_KEYS=write_keys,
                     ANALYTICS_COLLECTOR_HOST="127.0.0.1", ANALYTICS_COLLECTOR_PORT=str(port),
                     PYTHONUNBUFFERED="1")
    child_env.update(env or {})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:  # the child keeps its own handle
        process = subprocess.Popen([sys.executable, "-m", "collector"], cwd=REPO_ROOT, env=child_env,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    server = CollectorServer(port=port, data_dir=data_dir, log_path=log_path, process=process)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            pytest.fail(f"collector exited with {process.returncode} while starting on port {port}:\n"
                        f"{server.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            server.kill()
            pytest.fail(f"collector on port {port} did not answer /healthz within {timeout}s:\n"
                        f"{server.log()[-3000:]}")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CollectorServer]:
    """One collector with the default settings, shared by a module's tests (each marks its own events)."""
    root = tmp_path_factory.mktemp("collector")
    running = start_collector(root / "data", root / "collector.log")
    yield running
    running.stop()


@pytest.fixture
def unused_port() -> int:
    """A free loopback port, e.g. to point a client at a collector that is started later."""
    return free_port()


@pytest.fixture
def collector_server(tmp_path: Path) -> Iterator[Callable[..., CollectorServer]]:
    """Factory: ``collector_server(port=None, data_dir=None, write_keys="web=wk_test", env={...})``.

    Every server it started is stopped at teardown (SIGTERM, then SIGKILL).
    """
    started: list[CollectorServer] = []

    def start(port: int | None = None, data_dir: Path | None = None, write_keys: str = DEFAULT_WRITE_KEYS,
              env: Mapping[str, str] | None = None) -> CollectorServer:
        number = len(started) + 1
        server = start_collector(data_dir or tmp_path / f"collector-data-{number}",
                                 tmp_path / f"collector-{number}.log", port, write_keys, env)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.running:
            server.process.send_signal(signal.SIGTERM)
            try:
                server.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                server.kill()
