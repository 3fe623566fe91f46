"""`make up`: the collector, Dagster (UI + daemon), the HTTP API and the MLflow UI in one command; Ctrl-C
stops them all.

    python -m orchestration.up [--dagster-port 3000]

Dagster keeps its runs, schedules and sensor cursors in ``DAGSTER_HOME=$ANALYTICS_DATA_DIR/dagster``; its
``dagster.yaml`` is written there when missing (edit it freely afterwards). The MLflow UI serves the store
of ``ANALYTICS_MLFLOW_TRACKING_URI`` (SQLite under the data folder by default) on
127.0.0.1:``ANALYTICS_MLFLOW_UI_PORT``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from analytics_settings import REPO_ROOT, Settings, load_settings

DAGSTER_PORT = 3000
STOP_TIMEOUT_SECONDS = 30
READY_TIMEOUT_SECONDS = 120
STOP_SIGNALS = {"collector": signal.SIGTERM, "dagster": signal.SIGINT, "api": signal.SIGTERM,
                "mlflow": signal.SIGTERM}
# The lake assets run in the pool `lake` (orchestration/lake/assets.py); a default limit of 1 lets one
# lake step run at a time across all runs, so two runs never write the same partition.
DAGSTER_YAML = """\
# Written by `make up` (orchestration/up.py) because it was missing; yours to edit.
concurrency:
  pools:
    default_limit: 1
    granularity: op
telemetry:
  enabled: false
"""


def dagster_home(data_dir: Path) -> Path:
    """``<data dir>/dagster`` with a dagster.yaml (written only when missing)."""
    home = (data_dir / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    return home


def mlflow_ui_command(settings: Settings) -> list[str] | None:
    """``mlflow server`` on the settings' tracking and registry store, on 127.0.0.1:mlflow_ui_port; None when
    ANALYTICS_MLFLOW_TRACKING_URI is a tracking server (it serves its own UI).

    A SQLite store is created first, under the lock of ``ml.tracking`` (MLflow migrates an empty store
    without one, and the server would race a training run that starts at the same time).
    """
    from ml import tracking  # imports MLflow: only when the UI is started

    if settings.mlflow_uri.startswith(tracking.SERVER_SCHEMES):
        return None
    tracking.configure(settings)
    return [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", settings.mlflow_uri,
            "--default-artifact-root", settings.mlflow_artifacts.resolve().as_uri(),
            "--host", "127.0.0.1", "--port", str(settings.mlflow_ui_port), "--workers", "1"]


def services(settings: Settings, dagster_port: int = DAGSTER_PORT) -> dict[str, tuple[list[str], str]]:
    """What `make up` runs: each service's command and the URL that answers 200 once it is ready."""
    found = {
        "collector": ([sys.executable, "-m", "collector"],
                      f"http://{settings.collector_host}:{settings.collector_port}/healthz"),
        "dagster": ([sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
                     "-p", str(dagster_port)], f"http://127.0.0.1:{dagster_port}/server_info"),
        "api": ([sys.executable, "-m", "api"], f"http://{settings.api_host}:{settings.api_port}/healthz"),
    }
    if (mlflow_ui := mlflow_ui_command(settings)) is not None:
        found["mlflow"] = (mlflow_ui, f"http://127.0.0.1:{settings.mlflow_ui_port}/health")
    return found


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(processes: dict[str, subprocess.Popen]) -> int:
    """Stop every running service (SIGKILL after the timeout); the worst exit code."""
    for name, process in processes.items():
        if process.poll() is None:
            # `dagster dev` stops its webserver, daemon and code server on SIGINT; the collector seals its
            # open landing files on SIGTERM.
            os.killpg(process.pid, STOP_SIGNALS[name])
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for name, process in processes.items():
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop within {STOP_TIMEOUT_SECONDS} s: killing it", file=sys.stderr)
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return max((abs(p.returncode) for name, p in processes.items() if p.returncode not in (0, -STOP_SIGNALS[name])),
               default=0)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill` stops the services like Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.up", description=__doc__.splitlines()[0])
    parser.add_argument("--dagster-port", type=int, default=DAGSTER_PORT, help="port of the Dagster UI")
    args = parser.parse_args(argv)
    settings = load_settings()
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home(settings.data_dir))}
    started = services(settings, args.dagster_port)
    waiting = {name: url for name, (_, url) in started.items()}
    # Handlers before the children start: a signal this process ignores (SIGINT under `nohup` or `&`)
    # would stay ignored in them. Own process groups: Ctrl-C reaches only this launcher, which stops them.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    processes = {name: subprocess.Popen(command, cwd=REPO_ROOT, env=env, start_new_session=True)
                 for name, (command, _) in started.items()}
    print(f"DAGSTER_HOME={env['DAGSTER_HOME']}; Ctrl-C stops everything", flush=True)
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    try:
        while all(p.poll() is None for p in processes.values()):
            for name, url in list(waiting.items()):
                if answers(url):
                    print(f"{name} ready: {url.rsplit('/', 1)[0]}", flush=True)
                    del waiting[name]
            if waiting and time.monotonic() > deadline:
                print(f"still waiting for {', '.join(waiting)} after {READY_TIMEOUT_SECONDS} s", file=sys.stderr)
                deadline = float("inf")  # say it once
            time.sleep(1)
        exited = [name for name, p in processes.items() if p.poll() is not None]
        print(f"{', '.join(exited)} exited (code {processes[exited[0]].returncode}): stopping the rest",
              file=sys.stderr)
        _stop(processes)
        return 1
    except KeyboardInterrupt:
        print("stopping the collector (it seals its open landing files), Dagster, the API and the MLflow UI",
              flush=True)
        return _stop(processes)


if __name__ == "__main__":
    sys.exit(main())
