"""``make demo``: the main job on the embedded defaults.

Starts the collector, drives a realistic day of traffic into it over HTTP with the generator, stops it
gracefully (which seals the landing files), then materializes today's arrival day through the lake assets
(Spark compaction to bronze, gold rollup) in the Dagster instance of ``make up``, so the runs show in its
UI. Prints where everything landed and the headline counts.
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

from analytics_settings import REPO_ROOT, load_settings
from collector.generator.model import GeneratorConfig
from collector.generator.run import generate, run_folder
from collector.generator.sinks import HttpSink
from collector.landing import sealed_files, summarize
from orchestration.definitions import defs
from orchestration.lake.resources import SparkJobRunner
from orchestration.up import answers, dagster_home

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
    run_lake(datetime.now(UTC).date().isoformat(), settings.data_dir)
    return 0


def run_lake(arrival_day: str, data_dir: Path) -> None:
    """Materialize one arrival day through bronze and gold, recorded in `make up`'s Dagster instance."""
    os.environ["DAGSTER_HOME"] = str(dagster_home(data_dir))
    definitions = defs()
    assets = [definitions.get_assets_def(["bronze", "events"]),
              definitions.get_assets_def(["gold", "daily_event_rollup"])]
    print(f"compacting arrival day {arrival_day} with Spark (bronze, then gold)…", flush=True)
    with dg.DagsterInstance.get() as instance:
        result = dg.materialize(assets, partition_key=arrival_day, instance=instance,
                                resources={"spark": SparkJobRunner()}, raise_on_error=False)
    if not result.success:
        sys.exit("demo: the lake run failed; its log is in the Dagster UI (make up) and above")
    metadata = {event.asset_key.to_user_string(): event.event_specific_data.materialization.metadata
                for event in result.get_asset_materialization_events()}
    bronze, gold = metadata["bronze/events"], metadata["gold/daily_event_rollup"]
    print(f"bronze      {bronze['rows_out'].value:>9,} events from {bronze['rows_in'].value:,} lines "
          f"({bronze['duplicates_within_day'].value:,} duplicates removed, "
          f"{bronze['quarantined_total'].value:,} quarantined, {bronze['bot_events'].value:,} bots flagged)")
    print(f"            {bronze['path'].value}  (event days {', '.join(bronze['event_dates'].value)})")
    print(f"gold        {gold['events_total'].value:>9,} events rolled up for {', '.join(gold['event_dates'].value)}")
    print(f"Dagster run {result.run_id}: see it with `make up` at http://127.0.0.1:3000")


if __name__ == "__main__":
    sys.exit(main())
