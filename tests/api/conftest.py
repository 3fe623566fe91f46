"""A real API process for tests (``python -m api`` on a free loopback port) and a real MLflow registry.

Each server gets its own data folder (its MLflow store and served warehouse live there unless ``env`` says
otherwise), logs to a file named in every failure, and is stopped (SIGTERM, then SIGKILL) at teardown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import mlflow
import pandas as pd
import pytest

from analytics_settings import Settings, load_settings
from ml import registry, tracking, training
from tests.conftest import MlWarehouse, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
API_KEYS = "dashboard=k-dash-7f3a,etl=k-etl-91c2"
AUTH = {"Authorization": "Bearer k-dash-7f3a"}
STARTUP_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 20.0


@dataclass
class ApiServer:
    """A running ``python -m api``: ``url``, its ``settings`` (data folder, store, warehouse) and its log."""

    port: int
    settings: Settings
    log_path: Path
    process: subprocess.Popen = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def post(self, path: str, body: Any = None, headers: Mapping[str, str] | None = AUTH, **kwargs: Any) -> httpx.Response:
        return httpx.post(self.url + path, json=body, headers=headers, timeout=60, **kwargs)

    def get(self, path: str, headers: Mapping[str, str] | None = AUTH) -> httpx.Response:
        return httpx.get(self.url + path, headers=headers, timeout=60)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


def start_api(data_dir: Path, log_path: Path, env: Mapping[str, str] | None = None) -> ApiServer:
    """Start ``python -m api`` on a free port with ``data_dir`` and :data:`API_KEYS`; return once /healthz
    answers."""
    port = free_port()
    # Only the variables given here reach the API, so a developer's ANALYTICS_* cannot leak in.
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}
    child_env.update(ANALYTICS_DATA_DIR=str(data_dir), ANALYTICS_API_KEYS=API_KEYS,
                     ANALYTICS_API_HOST="127.0.0.1", ANALYTICS_API_PORT=str(port), PYTHONUNBUFFERED="1")
    child_env.update(env or {})
    settings = load_settings(**{key.removeprefix("ANALYTICS_").lower(): value
                                for key, value in child_env.items() if key.startswith("ANALYTICS_")})
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log_file:  # the child keeps its own handle
        process = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO_ROOT, env=child_env,
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT)
    server = ApiServer(port, settings, log_path, process)
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"the API exited with {process.returncode} while starting:\n{server.log()[-3000:]}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            pytest.fail(f"the API did not answer /healthz within {STARTUP_TIMEOUT_SECONDS} s:\n{server.log()[-3000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., ApiServer]]:
    """Factory: ``api_server(data_dir=None, env={...})``; every server it started is stopped at teardown."""
    started: list[ApiServer] = []

    def start(data_dir: Path | None = None, env: Mapping[str, str] | None = None) -> ApiServer:
        root = tmp_path_factory.mktemp("api")
        server = start_api(data_dir or root / "data", root / "api.log", env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def served_api(tmp_path_factory: pytest.TempPathFactory, ml_warehouse: MlWarehouse) -> Iterator[ApiServer]:
    """The API on the ML dataset's served warehouse, with churn and LTV champions trained on it by
    ``ml.training.run`` (the path of ``python -m ml train``) in the server's own MLflow store."""
    root = tmp_path_factory.mktemp("served-api")
    server = start_api(root / "data", root / "api.log", {"ANALYTICS_WAREHOUSE_PATH": str(ml_warehouse.served)})
    try:
        for name in ("churn", "ltv"):
            outcome = training.run(training.KINDS[name], server.settings)
            assert outcome.version is not None, f"{name} was not registered: {outcome.decision}"
        yield server
    finally:
        server.stop()


def register_version(model: registry.ScoringModel, name: str, settings: Settings, training_data: pd.DataFrame,
                     champion: bool = True) -> int:
    """Log ``model`` in a run of its own, register it as a new version of ``name`` (alias challenger) and,
    with ``champion``, promote it; the version."""
    client = tracking.configure(settings)
    with mlflow.start_run(experiment_id=tracking.experiment_id(client, name, settings)):
        logged = registry.log_model(model, training_data)
    version = registry.register(logged, name, settings)
    if champion:
        registry.promote(name, version, settings)
    return version
