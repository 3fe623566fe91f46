"""``make demo``: the product on a few weeks of traffic, in a few minutes, from a fresh clone.

Generates ``--days`` days of traffic for ``--users`` visitors, ending today (UTC). What arrived before today
goes straight into the landing zone (the generator's landing sink: fast); what arrived today up to now goes
through a real collector over HTTP, started and stopped here (a graceful stop seals its files); the rest
arrives "later" and is not sent. Then it runs
``make pipeline`` (Spark compaction and rollup, dbt build and tests, quality gates, publish) in ``make up``'s
Dagster instance, so the run shows in its UI. Then it trains the churn, LTV and segments models
(``python -m ml train``'s code: MLflow runs, registry, promotion) and scores every user with the champions
(``python -m ml score``'s code: published through a new build). The chain's own scoring ran before any champion
existed, so this scoring is what fills ``marts.fct_user_scores``. It prints one line per stage with its figure and
time, headline metrics read through the metrics module (money in the reporting currency), and what to open; the
full logs (collector, Spark, dbt, Dagster, MLflow) go to ``<data dir>/logs/demo-<time>.log``.

The default size (nine weeks, 1,500 visitors) gives churn the three weekly snapshots it needs: each label window
(``ANALYTICS_CHURN_HORIZON_DAYS``, 14) must close before the first provisional day, after enough history to
learn from.

A re-run on the same day finds the traffic landed (its ground truth exists) and the warehouse up to date, and
prints the same figures: training again on the same data gives the same figures, and the new version stays
challenger (it does not beat the champion), so the champion and the scores do not change; ``make clean``
starts over.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Self, TextIO

import numpy as np

from analytics_settings import REPO_ROOT, Settings, load_settings
from collector.generator.model import Chunk, GeneratorConfig
from collector.generator.run import generate, run_folder
from collector.generator.sinks import HttpSink, LandingSink, SinkReport

DEMO_WRITE_KEYS = "web=demo-web-key"  # used only when ANALYTICS_WRITE_KEYS is not set
DAGSTER_UI = "http://127.0.0.1:3000"
POLL_SECONDS = 1.0


# ------------------------------------------------------------------ traffic


class ArrivalSplitSink:
    """Events that arrived before ``live_from_ms`` into ``landed``, those arriving from then until ``now_ms``
    into ``live``; the generator has the others arrive later than now, so they are only counted.

    The generator simulates when each event reaches the server. The collector stamps its arrival as now, so
    only today's arrivals go through it: every earlier arrival day is landed whole, as the quality gates expect
    of a day that is over.
    """

    def __init__(self, live_from_ms: int, now_ms: int, landed: LandingSink, live: HttpSink):
        self.live_from_ms, self.now_ms, self.landed, self.live = live_from_ms, now_ms, landed, live
        self.not_arrived = 0

    def send(self, chunk: Chunk) -> None:
        arrival = chunk.arrival_ms
        for sink, selected in ((self.landed, arrival < self.live_from_ms),
                               (self.live, (arrival >= self.live_from_ms) & (arrival <= self.now_ms))):
            indices = np.flatnonzero(selected)  # in chunk order: the valid events stay first
            if len(indices):
                sink.send(Chunk([chunk.events[i] for i in indices.tolist()], arrival[indices],
                                chunk.sent_ms[indices], int((indices < chunk.valid).sum()), chunk.final_before_ms))
        self.not_arrived += int((arrival[:chunk.valid] > self.now_ms).sum())

    def close(self) -> SinkReport:
        landed, live = self.landed.close(), self.live.close()
        return SinkReport("landing + http", f"{landed.location} + {live.location}", landed.sent + live.sent,
                          landed.malformed_sent + live.malformed_sent, live.accepted, live.rejected,
                          live.failed_requests)


@dataclass(frozen=True)
class Traffic:
    config: GeneratorConfig
    live_from: date  # arrivals on this day, up to now, go through the collector

    @property
    def run_name(self) -> str:
        c = self.config
        return f"demo-{c.start.isoformat()}-{c.days}d-{c.users}u-seed{c.seed}"


def demo_traffic(days: int, users: int, seed: int, today: date) -> Traffic:
    """``days`` days ending today; today's arrivals so far are the live part."""
    return Traffic(GeneratorConfig(start=today - timedelta(days=days - 1), users=users, days=days, seed=seed),
                   live_from=today)


def send_traffic(traffic: Traffic, settings: Settings, log_path: Path) -> tuple[int, int, int]:
    """Generate the traffic into the landing zone and a collector started here (its output goes where this
    process's goes); (events landed, events the collector accepted, events that arrive after now)."""
    url = f"http://{settings.collector_host}:{settings.collector_port}"
    with socket.socket() as probe:
        if probe.connect_ex((settings.collector_host, settings.collector_port)) == 0:
            sys.exit(f"demo: {settings.collector_host}:{settings.collector_port} is in use (a collector from "
                     "`make up`?); stop it, or set ANALYTICS_COLLECTOR_PORT to a free port")
    collector = subprocess.Popen([sys.executable, "-m", "collector", "--log-level", "WARNING"], cwd=REPO_ROOT)
    try:
        _wait_healthy(url, collector)
        live_from_ms = int(datetime.combine(traffic.live_from, datetime.min.time(), UTC).timestamp() * 1000)
        source = settings.write_keys[0]
        sink = ArrivalSplitSink(live_from_ms, int(time.time() * 1000),
                                LandingSink(settings.lake_path, source.source_id, writer_id="demo"),
                                HttpSink(url, source.key.get_secret_value()))
        generate(traffic.config, sink, run_folder(settings.data_dir, traffic.run_name) / "truth")
    finally:
        collector.terminate()  # SIGTERM: drain in-flight requests, seal the open files
        collector.wait(60)
    live = sink.live.report
    if live.failed_requests:
        sys.exit(f"demo: {live.failed_requests} requests to the collector failed; see {log_path}")
    return sink.landed.report.sent, live.accepted or 0, sink.not_arrived


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30.0) -> None:
    from orchestration.up import answers

    deadline = time.monotonic() + timeout
    while not answers(f"{url}/healthz"):
        if process.poll() is not None:
            sys.exit(f"demo: the collector exited with {process.returncode} while starting; see the log")
        if time.monotonic() > deadline:
            process.kill()
            sys.exit(f"demo: the collector did not answer {url}/healthz within {timeout:g} s")
        time.sleep(0.1)


# ------------------------------------------------------------------ output: a line per stage, the rest to a file


@contextmanager
def logs_to_file(path: Path) -> Iterator[TextIO]:
    """Send this process's stdout and stderr, and its children's, to ``path``; yields the terminal's stdout.

    At the file-descriptor level, because Spark, dbt and the collector run as child processes that inherit
    them and Dagster's loggers hold on to ``sys.stderr``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    terminal = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    with open(path, "a", buffering=1, encoding="utf-8") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield terminal
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            terminal.close()


def stage_line(name: str, figure: str, seconds: float) -> str:
    return f"{name:<12}{figure:<52}{seconds:>6.0f} s"


STEP_NAMES = {"bronze__events": "compaction", "gold__daily_event_rollup": "rollup", "warehouse": "warehouse"}


def step_line(step_key: str, seconds: float, entries: list) -> str:
    """One finished step of the daily run, with the figure a person wants from it."""
    materializations = [e.dagster_event.event_specific_data.materialization for e in entries
                        if e.dagster_event and e.dagster_event.event_type_value == "ASSET_MATERIALIZATION"]
    checks = [e.dagster_event.event_specific_data for e in entries
              if e.dagster_event and e.dagster_event.event_type_value == "ASSET_CHECK_EVALUATION"]
    if step_key.endswith("_quality"):
        verdicts = [("passed" if check.passed else check.severity.value.lower()) for check in checks]
        asset = step_key.removesuffix("_quality").replace("__", "/")
        return stage_line("quality", f"{asset} {', '.join(verdicts) or 'not run'}", seconds)
    if step_key == "warehouse":
        tests = sum(check.passed for check in checks)
        models = len({materialization.asset_key for materialization in materializations})  # one per partition
        return stage_line("warehouse", f"{models} models built, {tests} of {len(checks)} dbt tests passed, published",
                          seconds)
    metadata = materializations[0].metadata if materializations else {}
    value = {key: entry.value for key, entry in metadata.items()}
    if step_key == "bronze__events":
        days = len(value.get("event_dates", []))
        return stage_line("compaction", f"{value.get('rows_in', 0):,} lines -> {value.get('rows_out', 0):,} events "
                                        f"on {days} event days", seconds)
    if step_key == "gold__daily_event_rollup":
        return stage_line("rollup", f"{len(value.get('event_dates', []))} event days, "
                                    f"{value.get('events_total', 0):,} events", seconds)
    return stage_line(STEP_NAMES.get(step_key, step_key), "done", seconds)


class RunProgress:
    """Prints a line for each step of the newest daily run as it finishes, from the Dagster event log."""

    def __init__(self, instance, job_name: str, out: TextIO):
        self.instance, self.job_name, self.out = instance, job_name, out
        self.known_runs = {run.run_id for run in self._runs()}
        self.printed: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _runs(self) -> list:
        import dagster as dg

        return self.instance.get_runs(filters=dg.RunsFilter(job_name=self.job_name), limit=5)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.print_finished()  # the last steps, after the run ended

    def _poll(self) -> None:
        while not self._stop.wait(POLL_SECONDS):
            self.print_finished()

    def print_finished(self) -> None:
        run_id = next((run.run_id for run in self._runs() if run.run_id not in self.known_runs), None)
        if run_id is None:
            return
        by_step: dict[str, list] = {}
        for entry in self.instance.all_logs(run_id):
            if entry.step_key:
                by_step.setdefault(entry.step_key, []).append(entry)
        for step_key, entries in by_step.items():
            kinds = {e.dagster_event.event_type_value: e.timestamp for e in entries if e.dagster_event}
            end = kinds.get("STEP_SUCCESS", kinds.get("STEP_FAILURE"))
            if step_key in self.printed or end is None or "STEP_START" not in kinds:
                continue
            self.printed.add(step_key)
            failed = "" if "STEP_SUCCESS" in kinds else "  FAILED"
            print(step_line(step_key, end - kinds["STEP_START"], entries) + failed, file=self.out)


# ------------------------------------------------------------------ the demo


HEADLINES = (("events", "events", "{:,.0f}"), ("sessions", "sessions", "{:,.0f}"),
             ("active users", "active_users", "{:,.0f}"), ("new users", "new_users", "{:,.0f}"),
             ("avg session", "average_session_duration", "{:,.0f} s"), ("bounce rate", "bounce_rate", "{:.1%}"),
             ("revenue", "revenue", "{:,.2f} {currency}"),
             ("signup → purchase", "signup_to_purchase_conversion_rate", "{:.1%}"),
             ("day-1 retention", "day_1_retention", "{:.1%}"), ("day-7 retention", "day_7_retention", "{:.1%}"))


def headlines(served: Path, currency: str) -> list[str]:
    """The served warehouse's totals, asked by metric name through the semantic layer."""
    import pandas as pd

    from metrics import SemanticLayer

    with SemanticLayer(served) as layer:
        totals = layer.query([name for _, name, _ in HEADLINES], grain=None).iloc[0]
    return [f"  {label:<18} " + ("n/a" if pd.isna(totals[name]) else shape.format(totals[name], currency=currency))
            for label, name, shape in HEADLINES]  # n/a: nothing to divide by


def run_chain(settings: Settings, out: TextIO) -> None:
    """`make pipeline` in `make up`'s Dagster instance, a line per step as it finishes."""
    import dagster as dg

    from orchestration.daily import daily_job
    from orchestration.pipeline import run_pipeline
    from orchestration.up import dagster_home

    os.environ["DAGSTER_HOME"] = str(dagster_home(settings.data_dir))
    with dg.DagsterInstance.get() as instance, RunProgress(instance, daily_job.name, out):
        result = run_pipeline(instance)
    if not result.days:
        print(stage_line("pipeline", "every landed arrival day is already up to date", 0), file=out)
    elif not result.success:
        sys.exit(f"demo: the pipeline run {result.run_id} failed; its log is in the Dagster UI (make up) and in the "
                 "demo's log file")


def train_models(settings: Settings, out: TextIO) -> None:
    """Train each model as ``python -m ml train <kind>`` does; a line with its figures next to its baseline's,
    then the registry's decision in words. Too little history for a kind is said, not fatal."""
    from ml import tracking, training

    for name in training.KINDS:
        step = time.perf_counter()
        try:
            outcome = training.run(training.KINDS[name], settings)
        except ValueError as too_short:  # e.g. fewer than three closed weekly snapshots for churn
            print(stage_line(name, "not trained", time.perf_counter() - step), file=out)
            print(f"{'':12}{too_short}", file=out)
            continue
        params = tracking.configure(settings).get_run(outcome.run_id).data.params
        figure, detail = model_lines(name, outcome, params)
        print(stage_line(name, figure, time.perf_counter() - step), file=out)
        print(f"{'':12}{detail}", file=out)
        print(f"{'':12}{outcome.decision}", file=out)


def model_lines(name: str, outcome, params: dict[str, str]) -> tuple[str, str]:
    """A training run's headline figure and a line of detail, each next to its baseline's."""
    figures, baseline = outcome.figures, outcome.baseline_figures
    if name == "churn":
        return (f"ROC AUC {figures['roc_auc']:.3f} vs {baseline['roc_auc']:.3f} recency baseline",
                (f"PR AUC {figures['pr_auc']:.3f} vs {baseline['pr_auc']:.3f}, top-decile lift "
                 f"{figures['top_decile_lift']:.2f} vs {baseline['top_decile_lift']:.2f}, "
                 f"{figures['rows']:,.0f} users on the evaluation snapshot"))
    if name == "ltv":
        return (f"{params['model']} RMSE {figures['rmse']:.2f} vs {baseline['rmse']:.2f} naive baseline",
                (f"candidate {params['model']} over {figures['observed_days']:.0f} days: Spearman "
                 f"{figures['spearman']:.3f} vs {baseline['spearman']:.3f}, total {figures['total_predicted']:,.2f} "
                 f"vs {baseline['total_predicted']:,.2f} (actual {figures['total_actual']:,.2f})"))
    return (f"{figures['k']:.0f} segments, silhouette {figures['silhouette']:.3f}",
            params["segment_names"].replace(",", ", "))


def score_users(settings: Settings, out: TextIO) -> None:
    """Score every user as ``python -m ml score`` does; the line counts what the served warehouse now holds."""
    import duckdb

    from ml import scoring

    step = time.perf_counter()
    scoring.main(settings=settings)
    with duckdb.connect(str(settings.served_warehouse), read_only=True) as connection:
        as_of, users, churn_scored = connection.execute(
            "select as_of_date, count(*), count(churn_probability) from marts.fct_user_scores "
            "where as_of_date = (select max(as_of_date) from marts.fct_user_scores) group by as_of_date").fetchall()[0]
    print(stage_line("scores", f"{users:,} users scored as of {as_of}, {churn_scored:,} for churn",
                     time.perf_counter() - step), file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=63, help="days of traffic, ending today (UTC)")
    parser.add_argument("--users", type=int, default=1500, help="visitors over the whole range")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    os.environ.setdefault("ANALYTICS_WRITE_KEYS", DEMO_WRITE_KEYS)  # the collector child inherits it
    settings = load_settings()
    started = time.perf_counter()
    log_path = settings.data_dir / "logs" / f"demo-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.log"
    traffic = demo_traffic(args.days, args.users, args.seed, datetime.now(UTC).date())
    truth = run_folder(settings.data_dir, traffic.run_name) / "truth"
    print(f"make demo: {args.days} days of traffic for {args.users:,} visitors, up to now; "
          f"data in {settings.data_dir}", flush=True)
    print(f"full logs (collector, Spark, dbt, Dagster, MLflow): {log_path}", flush=True)
    with logs_to_file(log_path) as out:
        step = time.perf_counter()
        if (truth / "run.json").exists():
            print(stage_line("traffic", "already landed by an earlier run (make clean starts over)", 0), file=out)
        else:
            landed, accepted, later = send_traffic(traffic, settings, log_path)
            print(stage_line("traffic", f"{landed:,} events landed, {accepted:,} via the collector, {later:,} later",
                             time.perf_counter() - step), file=out)
        run_chain(settings, out)
        train_models(settings, out)
        score_users(settings, out)
        lines = headlines(settings.served_warehouse, settings.reporting_currency)
    print("\nheadlines (the metrics module, over everything served)")
    print("\n".join(lines))
    dbt_docs_port, quality_docs_port = _docs_ports()
    print(f"""
open
  Dagster UI        {DAGSTER_UI}   (make up: the run above, assets, checks, schedules)
  dbt docs          http://127.0.0.1:{dbt_docs_port}   (make docs: every model and column, lineage)
  data docs         http://127.0.0.1:{quality_docs_port}   (make docs: every quality validation)
  MLflow UI         http://127.0.0.1:{settings.mlflow_ui_port}   (make up: Experiments churn, ltv, segments; Models)
  API               http://{settings.api_host}:{settings.api_port}/docs   (make up: churn and LTV predictions)
  warehouse         {settings.served_warehouse}
  lake              {settings.lake_path}  (landing/, bronze/, gold/, quarantine/)
  ground truth      {truth}
  full logs         {log_path}
done in {time.perf_counter() - started:.0f} s""")
    return 0


def _docs_ports() -> tuple[int, int]:
    from data_quality.__main__ import DOCS_PORT as QUALITY_DOCS_PORT
    from warehouse.__main__ import DOCS_PORT

    return DOCS_PORT, QUALITY_DOCS_PORT


if __name__ == "__main__":
    sys.exit(main())
