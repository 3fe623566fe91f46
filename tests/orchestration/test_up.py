"""`make up` (orchestration/up.py) serves the HTTP API and the MLflow UI on the settings' store, next to the
collector and Dagster: the two new services started from the commands `up` runs, against a real registry."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from analytics_settings import REPO_ROOT, load_settings
from orchestration.up import services
from tests.api.conftest import API_KEYS, register_version
from tests.api.trained import RevenueRateModel, as_json_rows, feature_rows
from tests.conftest import free_port

READY_TIMEOUT_SECONDS = 180


def test_make_up_serves_the_api_and_the_mlflow_ui_of_the_registry(tmp_path: Path):
    env = {"ANALYTICS_DATA_DIR": str(tmp_path / "data"), "ANALYTICS_API_PORT": str(free_port()),
           "ANALYTICS_MLFLOW_UI_PORT": str(free_port()), "ANALYTICS_API_KEYS": API_KEYS}
    settings = load_settings(**{name.removeprefix("ANALYTICS_").lower(): value for name, value in env.items()})
    version = register_version(RevenueRateModel(90), "ltv", settings, feature_rows(10, seed=1))
    started = services(settings)
    assert set(started) == {"collector", "dagster", "api", "mlflow"}
    child_env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANALYTICS_")}, **env}
    processes = {}
    try:
        for name in ("api", "mlflow"):
            with open(tmp_path / f"{name}.log", "wb") as log:
                processes[name] = subprocess.Popen(started[name][0], cwd=REPO_ROOT, env=child_env, stdout=log,
                                                   stderr=subprocess.STDOUT, start_new_session=True)
        for name, process in processes.items():
            wait_until_ready(started[name][1], process, tmp_path / f"{name}.log")
        ui = f"http://127.0.0.1:{settings.mlflow_ui_port}"
        registered = httpx.get(f"{ui}/api/2.0/mlflow/registered-models/get", params={"name": "ltv"}).json()
        assert {(alias["alias"], alias["version"]) for alias in registered["registered_model"]["aliases"]} == {
            ("champion", str(version))}
        assert httpx.get(ui).status_code == 200  # the UI's page
        api = f"http://{settings.api_host}:{settings.api_port}"
        assert httpx.get(f"{api}/docs").status_code == 200
        answer = httpx.post(f"{api}/v1/models/ltv/predict", headers={"Authorization": "Bearer k-etl-91c2"},
                            json={"rows": [{**row, "revenue_90d": 30.0} for row in as_json_rows(feature_rows(1, seed=2))]}, timeout=60)
        assert answer.status_code == 200, answer.text
        assert (answer.json()["model"]["version"], answer.json()["predictions"][0]["predicted_revenue"]) == (
            version, 30.0)
    finally:
        for process in processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def wait_until_ready(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while True:
        if process.poll() is not None:
            pytest.fail(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"{url} did not answer within {READY_TIMEOUT_SECONDS} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
