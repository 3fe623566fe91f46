"""Lake benchmark over a range: one ``python -m spark_jobs.compact`` of a range of arrival days, then one
``python -m spark_jobs.rollup`` of the event days it wrote (what a backfill and the warehouse benchmark's
full-history run do), wall time and peak memory of each, against a baseline measured in the same repeat: the
warehouse benchmark reference's first statement, DuckDB reading the same landing files, deduplicating them
and correcting event times into a table (less work: no enrichment, quarantine or lake layout).

    .venv/bin/python bench/compaction.py [--events 2000000] [--days 31] [--repeats 3] [--driver-memory 2g]

The landing data is the warehouse benchmark's (31 generated days from 2026-03-02, cached under
``<data dir>/bench/warehouse/events-N/``, generated now if missing). Each repeat runs in a fresh data folder
whose landing files are hard links to the cache, with Spark ``local[*]`` and ``--driver-memory``, each job
measured as a subprocess (wall time, CPU seconds and peak RSS summed over the process tree, JVM included,
sampled every 0.2 s; on a shared machine the CPU seconds are the figure to compare).
``--code DIR`` runs the job from another copy of the repository (e.g. an older version, for a before/after);
``--keep`` keeps the last repeat's lake to compare bronze between versions.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
from datetime import date, timedelta
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import Traffic, cached_landing, link_landing, measure_command

START = date(2026, 3, 2)
DAYS = 31
TRAFFIC = Traffic(start=START, days=DAYS, counted_days=tuple(START + timedelta(days=d) for d in range(DAYS)))


def spark_job(data_dir: Path, module: str, args: list[str], driver_memory: str, code: Path, log: Path) -> dict:
    """Run ``python -m module args`` from ``code`` on the lake of ``data_dir``; its report, wall time and peak."""
    env = {**os.environ, "ANALYTICS_DATA_DIR": str(data_dir), "ANALYTICS_SPARK_MASTER": "local[*]",
           "ANALYTICS_SPARK_DRIVER_MEMORY": driver_memory, "ANALYTICS_SPARK_EXECUTOR_MEMORY": driver_memory}
    env.pop("ANALYTICS_LAKE_URI", None)
    report_path = log.with_suffix(".json")
    command = [sys.executable, "-m", module, *args, "--report", str(report_path)]
    measured = measure_command(command, env, log, cwd=code)  # `python -m` imports from its working folder
    report = json.loads(report_path.read_text())
    return {"wall": measured.seconds, "peak_gb": measured.peak_gb, "cpu": measured.cpu_seconds,
            "startup": report["spark_startup_seconds"],
            "seconds": report["seconds"] - report["spark_startup_seconds"], "report": report}


def lake_range(data_dir: Path, days: list[date], driver_memory: str, code: Path) -> dict:
    compaction = spark_job(data_dir, "spark_jobs.compact",
                           [arg for day in days for arg in ("--received-date", day.isoformat())],
                           driver_memory, code, data_dir / "compact.log")
    event_dates = compaction["report"]["event_dates"]
    rollup = spark_job(data_dir, "spark_jobs.rollup", [arg for day in event_dates for arg in ("--event-date", day)],
                       driver_memory, code, data_dir / "rollup.log")
    return {"compact": compaction, "rollup": rollup}


def duckdb_baseline(data_dir: Path, log: Path) -> dict:
    """The reference's events statement over the landing files of ``data_dir``: wall time, CPU and peak."""
    glob = str(data_dir / "lake" / "landing" / "received_date=*" / "hour=*" / "*.ndjson")
    command = [sys.executable, "-m", "bench.warehouse", "--reference", str(data_dir / "baseline.duckdb"), glob,
               "--reference-events-only"]
    measured = measure_command(command, {**os.environ, "PYTHONPATH": str(REPO)}, log)
    answer = json.loads(log.read_text().strip().splitlines()[-1])
    return {"wall": measured.seconds, "cpu": measured.cpu_seconds, "peak_gb": measured.peak_gb,
            "events": answer["counts"]["events"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000, help="events arriving over the 31 days")
    parser.add_argument("--days", type=int, default=DAYS, help="arrival days compacted, from the first")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--driver-memory", default="2g", help="ANALYTICS_SPARK_DRIVER_MEMORY (local mode)")
    parser.add_argument("--code", type=Path, default=REPO, help="the repository copy whose spark_jobs run")
    parser.add_argument("--keep", action="store_true", help="keep the last repeat's lake")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="benchmark folder (default <ANALYTICS_DATA_DIR>/bench); the landing cache is its "
                             "warehouse/ folder")
    args = parser.parse_args()
    if not 1 <= args.days <= DAYS:
        parser.error(f"--days {args.days}: choose 1 to {DAYS}")

    from analytics_settings import load_settings

    bench = (args.data_dir or load_settings().data_dir / "bench").resolve()
    source, info = cached_landing(args.events, bench / "warehouse", TRAFFIC, label=f"{DAYS} days")
    days = [START + timedelta(days=d) for d in range(args.days)]
    landed = sum(info["days"].get(day.isoformat(), {"events": 0})["events"] for day in days)
    code = args.code.resolve()
    print(f"compaction benchmark: {args.days} arrival days from {START} in one run ({landed:,} landed lines), "
          f"code {code}, Spark local[*] driver {args.driver_memory}, {args.repeats} repeat(s), {os.cpu_count()} "
          f"cores, {psutil.virtual_memory().total / 1e9:.0f} GB RAM, load {os.getloadavg()[0]:.1f}", flush=True)
    runs = []
    for repeat in range(args.repeats):
        run_dir = bench / "compaction" / f"events-{args.events}-{repeat}"
        shutil.rmtree(run_dir, ignore_errors=True)
        link_landing(source, run_dir / "lake", days)
        run = {"baseline": duckdb_baseline(run_dir, run_dir / "baseline.log"),
               **lake_range(run_dir, days, args.driver_memory, code)}
        runs.append(run)
        compaction, rollup, report = run["compact"], run["rollup"], run["compact"]["report"]
        print(f"  run {repeat + 1}: compact {compaction['seconds']:.1f} s excl. start-up ({compaction['startup']:.1f} s "
              f"start-up, wall {compaction['wall']:.1f} s, CPU {compaction['cpu']:.0f} s, peak {compaction['peak_gb']:.2f} GB), rows in "
              f"{report['rows_in']:,} out {report['rows_out']:,}, duplicates within day "
              f"{report['duplicates_within_day']:,} across days {report['duplicates_across_days']:,}, quarantined "
              f"{sum(report['quarantined'].values()):,}; rollup of {len(report['event_dates'])} days "
              f"{rollup['seconds']:.1f} s excl. start-up (wall {rollup['wall']:.1f} s, CPU {rollup['cpu']:.0f} s, "
              f"peak {rollup['peak_gb']:.2f} GB); DuckDB baseline wall {run['baseline']['wall']:.1f} s, CPU "
              f"{run['baseline']['cpu']:.0f} s, peak {run['baseline']['peak_gb']:.2f} GB, "
              f"{run['baseline']['events']:,} events; load {os.getloadavg()[0]:.1f}", flush=True)
        if not (args.keep and repeat == args.repeats - 1):
            shutil.rmtree(run_dir, ignore_errors=True)
    for job in ("compact", "rollup"):
        median = {key: statistics.median(run[job][key] for run in runs)
                  for key in ("seconds", "wall", "startup", "cpu", "peak_gb")}
        print(f"  {job} median of {len(runs)}: {median['seconds']:.1f} s excl. start-up, wall {median['wall']:.1f} s, "
              f"start-up {median['startup']:.1f} s, CPU {median['cpu']:.0f} s, peak {median['peak_gb']:.2f} GB",
              flush=True)
    baseline = {key: statistics.median(run["baseline"][key] for run in runs) for key in ("wall", "cpu", "peak_gb")}
    print(f"  DuckDB baseline median of {len(runs)}: wall {baseline['wall']:.1f} s, CPU {baseline['cpu']:.0f} s, "
          f"peak {baseline['peak_gb']:.2f} GB")
    compact_wall = statistics.median(run["compact"]["wall"] for run in runs)
    compact_cpu = statistics.median(run["compact"]["cpu"] for run in runs)
    print(f"  compact / DuckDB baseline: wall {compact_wall / baseline['wall']:.2f}x, CPU "
          f"{compact_cpu / baseline['cpu']:.2f}x (medians)")
    if args.keep:
        print(f"  lake kept: {bench / 'compaction' / f'events-{args.events}-{args.repeats - 1}' / 'lake'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
