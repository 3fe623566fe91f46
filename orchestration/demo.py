"""``make demo``: the main job on the embedded defaults.

Starts the collector, drives a realistic day of traffic into it over HTTP with the generator, stops it
gracefully (which seals the landing files), then runs ``make pipeline``: the daily chain (Spark compaction
to bronze, gold rollup, dbt build of the warehouse, its tests, publish) in the Dagster instance of
``make up``, so the run shows in its UI. Prints where everything landed and headline numbers read through
the metrics module.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from analytics_settings import REPO_ROOT, load_settings
from collector.generator.model import GeneratorConfig
from collector.generator.run import generate, run_folder
from collector.generator.sinks import HttpSink
from collector.landing import sealed_files, summarize
from data_quality.__main__ import DOCS_PORT as QUALITY_DOCS_PORT
from metrics import SemanticLayer
from orchestration.pipeline import run_pipeline
from orchestration.quality import quality_check_keys
from orchestration.up import answers, dagster_home
from warehouse.__main__ import DOCS_PORT

DEMO_WRITE_KEYS = "web=demo-web-key"  # used only when ANALYTICS_WRITE_KEYS is not set


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((host, port)) != 0


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not answers(f"{url}/healthz"):
        if process.poll() is not None:
            sys.exit(f"demo: the collector exited with {process.returncode} while starting; see its log above")
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"demo: the collector did not answer {url}/healthz within {timeout:g} s")
        time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    os.environ.setdefault("ANALYTICS_WRITE_KEYS", DEMO_WRITE_KEYS)  # the collector child inherits it
    settings = load_settings()
    url = f"http://{settings.collector_host}:{settings.collector_port}"
    if not _port_is_free(settings.collector_host, settings.collector_port):
        sys.exit(f"demo: {settings.collector_host}:{settings.collector_port} is in use (a collector from "
                 "`make up`?); stop it, or set ANALYTICS_COLLECTOR_PORT to a free port")

    print(f"starting the collector on {url} (data in {settings.data_dir})", flush=True)
    collector = subprocess.Popen([sys.executable, "-m", "collector", "--log-level", "WARNING"], cwd=REPO_ROOT)
    try:
        _wait_healthy(url, collector)
        yesterday = datetime.now(UTC).date() - timedelta(days=1)
        config = GeneratorConfig(start=yesterday, users=args.users, days=1, seed=args.seed)
        run_name = f"demo-{yesterday.isoformat()}-seed{args.seed}"
        print(f"sending a day of traffic ({args.users:,} visitors, {yesterday}) through the collector…", flush=True)
        summary = generate(config, HttpSink(url, settings.write_keys[0].key.get_secret_value()),
                           run_folder(settings.data_dir, run_name) / "truth")
    finally:
        collector.terminate()  # SIGTERM: drain in-flight requests, seal the open files
        collector.wait(60)

    lake = settings.lake_path
    landing, quarantine = summarize(lake / "landing"), summarize(lake / "quarantine" / "collector")
    print()
    print(f"accepted    {summary.sink.accepted:>9,} events in this run ({summary.duplicates:,} of them client retries "
          "with a known messageId, removed downstream)")
    print(f"quarantined {summary.sink.rejected:>9,} malformed events, each with its reason")
    print(f"landing     {lake / 'landing'}  ({landing.files} sealed files, {landing.bytes / 1e6:.1f} MB, "
          f"arrival days {', '.join(sorted(landing.files_by_day))})")
    print(f"quarantine  {lake / 'quarantine' / 'collector'}  ({quarantine.files} sealed files)")
    print(f"truth       {summary.truth_folder}")
    for path in sealed_files(lake / "landing")[-3:]:
        print(f"  {path.relative_to(lake)}")
    print()
    run_pipeline_and_report(settings.data_dir)
    return 0


def run_pipeline_and_report(data_dir: Path) -> None:
    """`make pipeline` in `make up`'s Dagster instance, then headline numbers from the served warehouse."""
    os.environ["DAGSTER_HOME"] = str(dagster_home(data_dir))
    print("running the daily chain (Spark compaction and rollup, dbt build, tests, publish)…", flush=True)
    with dg.DagsterInstance.get() as instance:
        result = run_pipeline(instance)
        if not result.success:
            sys.exit(f"demo: the pipeline run {result.run_id} failed; its log is above and in the Dagster UI "
                     "(make up)")
        print_quality(instance)
    settings = load_settings()
    print(f"warehouse   {settings.served_warehouse}  (arrival days {', '.join(result.days) or 'already up to date'})")
    print_headlines(settings.served_warehouse)
    print()
    print("Dagster UI  http://127.0.0.1:3000   (make up)")
    print(f"dbt docs    http://127.0.0.1:{DOCS_PORT}   (make docs)")
    print(f"data docs   http://127.0.0.1:{QUALITY_DOCS_PORT}   (make docs)")


def print_quality(instance: dg.DagsterInstance) -> None:
    """The latest verdict of each quality gate (a warning does not stop the run, so it is worth showing)."""
    executions = instance.event_log_storage.get_latest_asset_check_execution_by_key(quality_check_keys())
    print("quality     (Great Expectations suites, the gates of the chain)")
    for key, execution in sorted(executions.items(), key=lambda item: item[0].asset_key.to_user_string()):
        evaluation = execution.event.dagster_event.event_specific_data if execution.event else None
        verdict = ("not run" if evaluation is None else "passed" if evaluation.passed
                   else f"{evaluation.severity.value}: {evaluation.description}")
        print(f"  {key.asset_key.to_user_string():<24} {verdict[:150]}")


HEADLINES = (("events", "events", "{:,.0f}"), ("sessions", "sessions", "{:,.0f}"),
             ("active users", "active_users", "{:,.0f}"), ("new users", "new_users", "{:,.0f}"),
             ("avg session", "average_session_duration", "{:,.0f} s"), ("bounce rate", "bounce_rate", "{:.1%}"),
             ("revenue", "revenue", "{:,.2f} (mixed currencies)"),
             ("signup → purchase", "signup_to_purchase_conversion_rate", "{:.1%}"))


def print_headlines(served: Path) -> None:
    """The served warehouse's totals, asked by metric name through the semantic layer."""
    with SemanticLayer(served) as layer:
        totals = layer.query([name for _, name, _ in HEADLINES], grain=None).iloc[0]
    print("headlines   (the metrics module, over everything served)")
    for label, name, shape in HEADLINES:
        value = totals[name]
        print(f"  {label:<18} {'n/a' if pd.isna(value) else shape.format(value)}")  # n/a: nothing to divide by


if __name__ == "__main__":
    sys.exit(main())
