"""ML benchmark: feature building, training of each model and scoring every user, each next to the cost of
reading the same marts once with DuckDB (same run), and the API's latency when it is installed.

    .venv/bin/python bench/ml.py [--events 200000] [--warehouse PATH]

For a size N the traffic generator writes DAYS simulated days (enough history for the churn snapshots and the
LTV model) with about N events (cached under ``<data dir>/bench/ml/events-N/``), and the daily chain
(``python -m orchestration.pipeline``) builds its warehouse in a fresh data folder; ``--warehouse`` uses an
existing served warehouse instead (its data folder keeps the MLflow store). Then each step runs in a process of
its own, measured by wall time and peak memory of its whole process tree:
  1. the reference: DuckDB reads the marts the features read (fct_events, dim_sessions, dim_users) once, whole;
  2. features: ``ml.features.build_features`` of every user as of the scoring date;
  3. training: ``python -m ml train churn``, ``ltv``, ``segments`` (MLflow runs in the data folder);
  4. scoring: ``ml.scoring.score_users`` of every user with the champions (no publish), then the same through
     ``python -m ml score`` (scores, dbt build of ``fct_user_scores``, quality gates, publish);
  5. the API (when ``api`` is importable), after ``python -m ml score`` published the scores: p50/p99 of
     ``GET /v1/users/{id}`` (latest scores) and of a churn predict by user id for one user and for 1,000.
Goals (issue 14, at 10M events, ~100k users): each training within 3 minutes and 3 GB, scoring within 60 s, API
p99 under 50 ms for one user. Results are kept as JSON in ``<data dir>/bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import Traffic, cached_landing, link_landing, measure_command
from bench.warehouse import START, pipeline_env, run_pipeline

DAYS = 63  # nine weeks: several closed 14-day churn windows, and a few weeks of history for the LTV model
TRAFFIC = Traffic(start=START, days=DAYS, counted_days=tuple(START + timedelta(days=d) for d in range(DAYS)))
MARTS = ("fct_events", "dim_sessions", "dim_users")
MODELS = ("churn", "ltv", "segments")
GOAL_TRAINING_SECONDS, GOAL_TRAINING_GB, GOAL_SCORING_SECONDS, GOAL_API_P99_MS = 180.0, 3.0, 60.0, 50.0
API_REQUESTS = 200
API_ROWS = 1000
API_START_SECONDS = 180.0


def step_main(step: str, warehouse: Path) -> int:
    """One measured step, in this process; prints its figures as one JSON line."""
    import duckdb

    from analytics_settings import load_settings

    settings = load_settings()
    started = time.perf_counter()
    figures: dict = {}
    if step == "reference":
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            figures["rows"] = {mart: connection.execute(f"select * from marts.{mart}").to_arrow_table().num_rows
                               for mart in MARTS}
    if step == "features":  # read as the trainings read it: under the stack's DuckDB limits
        from ml.features import build_features, read_warehouse
        from ml.population import scoring_date

        with read_warehouse(warehouse, settings) as connection:
            figures["users"] = len(build_features(connection, scoring_date(connection),
                                                  inactivity_minutes=settings.session_inactivity_minutes))
    if step == "scoring":
        from ml.scoring import score_users_summary

        summary = score_users_summary(warehouse, settings)
        figures.update(users=summary.users, churn_scored=summary.churn_scored, versions=summary.model_versions)
    figures["seconds"] = time.perf_counter() - started
    print(json.dumps(figures, default=str))
    return 0


def measured_step(command: list[str], env: dict, log: Path) -> dict:
    measured = measure_command(command, env, log, check=False)
    result = {"wall": round(measured.seconds, 1), "peak_gb": round(measured.peak_gb, 2),
              "exit_code": measured.exit_code, "log": str(log)}
    lines = log.read_text(errors="replace").strip().splitlines()
    if measured.exit_code == 0 and lines and lines[-1].startswith("{"):
        result |= json.loads(lines[-1])
    elif measured.exit_code != 0:
        result["failed"] = " | ".join(lines[-3:])[:400]
    return result


def api_latency(env: dict, warehouse: Path, log: Path) -> dict:
    """p50/p99 of the API for one user and for 1,000 rows, against a real ``python -m api`` on loopback."""
    try:
        import httpx

        import api  # noqa: F401
    except ImportError:
        return {"skipped": "the api package is not installed on this branch"}
    import duckdb

    with socket.socket() as probe:  # a free loopback port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    key = "bench=bench-key"
    server_env = {**env, "ANALYTICS_API_PORT": str(port), "ANALYTICS_API_KEYS": key}
    with open(log, "wb") as output:
        server = subprocess.Popen([sys.executable, "-m", "api"], cwd=REPO, env=server_env, stdout=output,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        base, headers = f"http://127.0.0.1:{port}", {"Authorization": "Bearer bench-key"}
        with duckdb.connect(str(warehouse), read_only=True) as connection:
            users = [row[0] for row in connection.execute(
                "select user_id from marts.fct_user_scores where churn_probability is not null "
                "order by user_id limit ?", [API_ROWS]).fetchall()]
        if not users:
            return {"skipped": "no scored user in the warehouse (no churn champion)"}
        with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
            # wait for the server to listen: its imports take tens of seconds on a loaded machine
            deadline = time.monotonic() + API_START_SECONDS
            while True:
                try:
                    client.get("/docs")
                    break
                except httpx.TransportError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        return {"failed": f"python -m api did not listen on port {port} within "
                                          f"{API_START_SECONDS:.0f} s (exit code {server.poll()}; log {log})"}
                    time.sleep(0.5)

            def timed(method: str, path: str, **kwargs) -> list[float]:
                times = []
                for _ in range(API_REQUESTS):
                    started = time.perf_counter()
                    client.request(method, path, **kwargs).raise_for_status()
                    times.append((time.perf_counter() - started) * 1000)
                return times

            try:
                one = timed("GET", f"/v1/users/{users[0]}")
                predict_one = timed("POST", "/v1/models/churn/predict", json={"user_ids": users[:1]})
                many = timed("POST", "/v1/models/churn/predict", json={"user_ids": users})
            except httpx.HTTPStatusError as error:
                return {"failed": f"{error.request.url} answered {error.response.status_code}: {error.response.text[:300]}"}
    finally:
        server.terminate()
        server.wait(timeout=30)

    def percentiles(times: list[float]) -> dict:
        cuts = statistics.quantiles(times, n=100)
        return {"p50_ms": round(cuts[49], 1), "p99_ms": round(cuts[98], 1)}

    return {"one_user": percentiles(one), "predict_one_user": percentiles(predict_one),
            f"predict_{len(users)}_users": percentiles(many)}


def prepare_warehouse(events: int, cache: Path, logs: Path) -> tuple[Path, dict]:
    """A fresh data folder with the cached landing of ``events`` events through the daily chain."""
    source, info = cached_landing(events, cache, TRAFFIC, label=f"{DAYS} days")
    data_dir = cache / "runs" / f"events-{events}"
    shutil.rmtree(data_dir, ignore_errors=True)
    link_landing(source, data_dir / "lake")
    chain = run_pipeline(data_dir, "2g", REPO, logs / "pipeline.log")
    if "failed" in chain:
        raise RuntimeError(f"the daily chain failed: {chain['failed']} (log {chain['log']})")
    return data_dir / "warehouse" / "analytics.duckdb", {"landing": info, "chain_wall": round(chain["wall"], 1)}


def git_commit(repo: Path = REPO) -> str:
    """The short commit of the measured code, ``<hash>-dirty`` when tracked files have uncommitted changes (the
    figures then belong to no commit)."""
    found = subprocess.run(["git", "describe", "--always", "--dirty", "--exclude=*", "--abbrev=7"], cwd=repo,
                           capture_output=True, text=True, check=False)
    return found.stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000, help=f"events generated over {DAYS} days")
    parser.add_argument("--warehouse", type=Path, help="an existing served warehouse (skips generating and the chain)")
    parser.add_argument("--data-dir", type=Path, help="cache (default <ANALYTICS_DATA_DIR>/bench/ml)")
    parser.add_argument("--step", choices=["reference", "features", "scoring"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        return step_main(args.step, args.warehouse)

    from analytics_settings import load_settings

    cache = (args.data_dir or load_settings().data_dir / "bench" / "ml").resolve()
    started = datetime.now(UTC)
    logs = cache / "logs" / f"{started:%Y%m%dT%H%M%SZ}"
    logs.mkdir(parents=True, exist_ok=True)
    commit = git_commit()
    print(f"ml benchmark at commit {commit}, {os.cpu_count()} cores, "
          f"{psutil.virtual_memory().total / 1e9:.0f} GB RAM, load {os.getloadavg()[0]:.1f}", flush=True)
    result: dict = {"commit": commit, "load_before": round(os.getloadavg()[0], 1)}
    if args.warehouse:
        warehouse = args.warehouse.resolve()
    else:
        print(f"  building the warehouse of ~{args.events:,} events ({DAYS} days) with the daily chain …", flush=True)
        warehouse, result["warehouse"] = prepare_warehouse(args.events, cache, logs)
    env = {**pipeline_env(warehouse.parent.parent, "2g", REPO), "ANALYTICS_WAREHOUSE_PATH": str(warehouse)}
    me = [sys.executable, str(Path(__file__).resolve())]
    steps = {"reference": [*me, "--step", "reference", "--warehouse", str(warehouse)],
             "features": [*me, "--step", "features", "--warehouse", str(warehouse)],
             **{f"train {model}": [sys.executable, "-m", "ml", "train", model] for model in MODELS},
             "scoring": [*me, "--step", "scoring", "--warehouse", str(warehouse)],
             # the same scoring through the build-then-publish path, so the API below serves the scores
             "score and publish": [sys.executable, "-m", "ml", "score"]}
    for name, command in steps.items():
        result[name] = measured_step(command, env, logs / f"{name.replace(' ', '_')}.log")
        print(f"  {name:<16} {result[name]['wall']:8.1f} s  peak {result[name]['peak_gb']:5.2f} GB"
              + (f"  FAILED: {result[name]['failed']}" if "failed" in result[name] else ""), flush=True)
    reference = result["reference"]["wall"]
    for name in steps:
        if name != "reference":
            print(f"  {name} / reading the marts once: {result[name]['wall'] / reference:.1f}x", flush=True)
    result["api"] = api_latency(env, warehouse, logs / "api.log")
    print(f"  api: {json.dumps(result['api'])}", flush=True)
    result["load_after"] = round(os.getloadavg()[0], 1)
    goals = [f"training {model} {result[f'train {model}']['wall']:.0f} s / {result[f'train {model}']['peak_gb']:.2f} GB "
             f"(goal {GOAL_TRAINING_SECONDS:.0f} s, {GOAL_TRAINING_GB} GB at 10M)" for model in MODELS]
    goals.append(f"scoring {result['scoring']['wall']:.0f} s (goal {GOAL_SCORING_SECONDS:.0f} s at 10M)")
    print("  goals: " + "; ".join(goals) + f"; load {result['load_before']} -> {result['load_after']}", flush=True)
    results_file = cache / "results" / f"ml-{started:%Y%m%dT%H%M%SZ}.json"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(result, indent=2, default=str))
    print(f"  results: {results_file}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
