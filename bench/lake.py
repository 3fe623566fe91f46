"""Lake benchmark: Spark compaction of one arrival day (events/s, start-up, peak memory) next to DuckDB.

    make bench BENCH_EVENTS=...      # or: .venv/bin/python bench/lake.py [--events 2000000 10000000] [--repeats 1]

For each size N the traffic generator's landing sink writes two simulated days of traffic with enough
users that about N events arrive on the first day (cached under ``<data dir>/bench/lake/events-N/``, so
repeats and later runs do not regenerate; ~1 KB of NDJSON per event). Then, in a fresh lake whose landing
files are hard links to the cache:
  1. ``python -m spark_jobs.compact`` of arrival day 1 (local[*], driver memory from --driver-memory):
     wall time, Spark start-up, events/s counted without start-up, peak memory of the whole process tree
     (python driver + JVM; RSS summed over the tree, sampled every 0.2 s);
  2. the reference: one DuckDB statement that does the same dedup (one row per messageId, the earliest
     receivedAt) and writes Parquet partitioned by event date, in a subprocess measured the same way;
  3. Spark compaction of arrival day 2 on top of day 1 (bronze now has history to dedup against): its peak
     memory must not grow with the lake.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import Traffic, cached_landing, generate_shard, link_landing, run_measured

DAY1 = date(2026, 3, 2)
DAY2 = DAY1 + timedelta(days=1)
BYTES_PER_EVENT_ESTIMATE = 1100
GOAL_SIZE = 10_000_000
GOAL_RATIO = 3.0
GOAL_PEAK_GB = 6.0
DUCKDB_MEMORY_LIMIT = "4GB"
DUCKDB_THREADS = 2

# The stored-event fields the compaction reads (spark_jobs/schema.py), as DuckDB types.
DUCKDB_COLUMNS = """{
  messageId: 'VARCHAR', type: 'VARCHAR', event: 'VARCHAR', name: 'VARCHAR', userId: 'VARCHAR',
  anonymousId: 'VARCHAR', groupId: 'VARCHAR', previousId: 'VARCHAR', timestamp: 'VARCHAR',
  originalTimestamp: 'VARCHAR', sentAt: 'VARCHAR', receivedAt: 'VARCHAR', sourceId: 'VARCHAR',
  properties: 'JSON', traits: 'JSON',
  context: 'STRUCT(ip VARCHAR, userAgent VARCHAR, locale VARCHAR, timezone VARCHAR, sessionId VARCHAR,
                   traits JSON, bot BOOLEAN,
                   page STRUCT(url VARCHAR, path VARCHAR, referrer VARCHAR, title VARCHAR, search VARCHAR),
                   campaign STRUCT(source VARCHAR, medium VARCHAR, name VARCHAR, term VARCHAR, content VARCHAR),
                   library STRUCT(name VARCHAR, version VARCHAR))'
}"""


def duckdb_statement(landing_glob: str, target: str) -> str:
    """Dedup on messageId (earliest receivedAt), Segment's clock-skew rule, Parquet by event date."""
    return f"""
COPY (
  WITH typed AS (
    SELECT *,
           TRY_CAST(receivedAt AS TIMESTAMPTZ) AS received_at,
           TRY_CAST(COALESCE(originalTimestamp, timestamp) AS TIMESTAMPTZ) AS device_time,
           TRY_CAST(sentAt AS TIMESTAMPTZ) AS sent_at
    FROM read_json('{landing_glob}', format = 'newline_delimited', columns = {DUCKDB_COLUMNS},
                   ignore_errors = true)
    WHERE messageId IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY messageId ORDER BY received_at NULLS LAST) = 1
  ), corrected AS (
    SELECT *, CASE WHEN sent_at IS NOT NULL AND device_time IS NOT NULL
                   THEN received_at - (sent_at - device_time)
                   ELSE COALESCE(device_time, received_at) END AS corrected_time
    FROM typed
  )
  SELECT * EXCLUDE (corrected_time),
         LEAST(corrected_time, received_at + INTERVAL 23 HOURS) AS event_time,
         CAST(LEAST(corrected_time, received_at + INTERVAL 23 HOURS) AS DATE) AS event_date
  FROM corrected
) TO '{target}' (FORMAT parquet, PARTITION_BY (event_date), COMPRESSION snappy)
"""


# ------------------------------------------------------------------ landing data (generated once per size)

TRAFFIC = Traffic(start=DAY1, days=2, counted_days=(DAY1,))


def landing_for(events: int, cache: Path) -> tuple[Path, dict]:
    """The cached landing zone for ``events`` day-1 events (generated now if missing)."""
    return cached_landing(events, cache, TRAFFIC, calibration_key="events_per_user_day1", label="2 days")


def fresh_lake(source: Path, target: Path) -> None:
    """A new lake at ``target`` whose landing files are hard links to the cached ones."""
    shutil.rmtree(target.parent, ignore_errors=True)
    link_landing(source, target)


def check_disk(cache: Path, sizes: list[int]) -> list[int]:
    """The sizes that fit on the disk of ``cache`` (a clear warning for the others)."""
    fitting = []
    free = shutil.disk_usage(cache).free
    for events in sizes:
        cached = (cache / f"events-{events}" / "complete.json").exists()
        # two days of landing (unless cached) + bronze and DuckDB output (~0.5 of a day) + margin
        need = events * BYTES_PER_EVENT_ESTIMATE * ((0 if cached else 2.2) + 0.6)
        if need > free:
            print(f"  SKIPPED {events:,} events: needs ~{need / 1e9:.0f} GB on {cache}, "
                  f"{free / 1e9:.0f} GB free (df -h {cache})")
            continue
        free -= need
        fitting.append(events)
    return fitting


# ------------------------------------------------------------------ one measurement


def spark_compact(lake_data_dir: Path, day: date, driver_memory: str, log: Path,
                  event_log: bool = False) -> dict:
    env = {**os.environ, "ANALYTICS_DATA_DIR": str(lake_data_dir), "ANALYTICS_SPARK_MASTER": "local[*]",
           "ANALYTICS_SPARK_DRIVER_MEMORY": driver_memory, "ANALYTICS_SPARK_EXECUTOR_MEMORY": driver_memory}
    env.pop("ANALYTICS_LAKE_URI", None)
    events_dir = log.parent / f"{log.stem}-events"
    if event_log:  # Spark's event log (stage timings), through a spark-defaults.conf of the bench's own
        conf = log.parent / "spark-conf"
        conf.mkdir(exist_ok=True)
        events_dir.mkdir(exist_ok=True)
        (conf / "spark-defaults.conf").write_text(
            f"spark.eventLog.enabled true\nspark.eventLog.dir {events_dir.as_uri()}\nspark.eventLog.compress false\n")
        env["SPARK_CONF_DIR"] = str(conf)
    report_path = log.with_suffix(".json")
    started = time.perf_counter()
    try:
        seconds, peak = run_measured([sys.executable, "-m", "spark_jobs.compact", "--received-date",
                                      day.isoformat(), "--report", str(report_path)], env, log)
    except RuntimeError:
        text = log.read_text(errors="replace")
        cause = next((line.strip() for line in text.splitlines() if "OutOfMemoryError" in line),
                     text.strip().splitlines()[-1] if text.strip() else "no output")
        return {"failed": cause[:160], "wall": time.perf_counter() - started, "log": str(log)}
    if event_log:
        print_stages(events_dir, f"{day} ")
    report = json.loads(report_path.read_text())
    work = report["seconds"] - report["spark_startup_seconds"]
    return {"wall": seconds, "peak_gb": peak, "startup": report["spark_startup_seconds"], "seconds": work,
            "rows_in": report["rows_in"], "rows_out": report["rows_out"],
            "events_per_second": report["rows_in"] / work, "report": report}


def print_stages(events_dir: Path, label: str, top: int = 6) -> None:
    """The slowest stages of a Spark event log (where the compaction's time goes)."""
    stages = []
    for path in events_dir.rglob("*"):
        if not path.is_file():
            continue
        for line in path.open(errors="replace"):
            event = json.loads(line)
            if event["Event"] == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                stages.append(((info.get("Completion Time", 0) - info.get("Submission Time", 0)) / 1000,
                               info["Number of Tasks"], info["Stage Name"]))
    for seconds, tasks, name in sorted(stages, reverse=True)[:top]:
        print(f"      {label}stage {seconds:7.1f} s {tasks:4d} tasks  {name[:70]}", flush=True)


def duckdb_reference(lake: Path, day: date, log: Path) -> dict:
    target = lake.parent / "duckdb-out"
    shutil.rmtree(target, ignore_errors=True)
    glob = str(lake / "landing" / f"received_date={day}" / "hour=*" / "*.ndjson")
    seconds, peak = run_measured([sys.executable, __file__, "--duckdb-reference", glob, str(target)],
                                 dict(os.environ), log)
    answer = json.loads(log.read_text().strip().splitlines()[-1])
    shutil.rmtree(target, ignore_errors=True)
    return {"wall": seconds, "peak_gb": peak, "seconds": answer["seconds"], "rows_out": answer["rows_out"]}


def duckdb_main(landing_glob: str, target: str) -> int:
    import duckdb

    started = time.perf_counter()
    with duckdb.connect(config={"memory_limit": DUCKDB_MEMORY_LIMIT, "threads": DUCKDB_THREADS,
                                "temp_directory": str(Path(target).parent / "duckdb-spill")}) as db:
        db.execute("SET TimeZone = 'UTC'")
        db.execute("SET preserve_insertion_order = false")
        db.execute(duckdb_statement(landing_glob, target))
        seconds = time.perf_counter() - started
        rows = db.execute(f"SELECT count(*) FROM read_parquet('{target}/*/*.parquet')").fetchone()[0]
    print(json.dumps({"seconds": seconds, "rows_out": rows}))
    return 0


def measure(events: int, cache: Path, driver_memory: str, repeat: int, event_log: bool) -> dict:
    source, info = landing_for(events, cache)
    run_dir = cache / "runs" / f"events-{events}-{repeat}"
    lake = run_dir / "lake"
    fresh_lake(source, lake)
    logs = run_dir / "logs"
    logs.mkdir(parents=True)
    try:
        day1 = spark_compact(run_dir, DAY1, driver_memory, logs / "spark-day1.log", event_log)
        duck = duckdb_reference(lake, DAY1, logs / "duckdb-day1.log")
        day2 = spark_compact(run_dir, DAY2, driver_memory, logs / "spark-day2.log", event_log)
    except Exception:
        print(f"  a measurement failed; logs kept in {logs}", flush=True)
        raise
    if "failed" in day1 or "failed" in day2:
        print(f"  Spark failed; logs kept in {logs}", flush=True)
        shutil.rmtree(lake, ignore_errors=True)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
    return {"info": info, "day1": day1, "duckdb": duck, "day2": day2}


# ------------------------------------------------------------------ report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[2_000_000, 10_000_000],
                        help="sizes: events arriving on the compacted day")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--driver-memory", default="3g", help="ANALYTICS_SPARK_DRIVER_MEMORY (local mode)")
    parser.add_argument("--spark-event-log", action="store_true",
                        help="record Spark's event log and print the slowest stages of each compaction")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="cache of generated landing data (default <ANALYTICS_DATA_DIR>/bench/lake)")
    parser.add_argument("--generate-shard", nargs=3, metavar=("LAKE", "USERS", "SEED"), help=argparse.SUPPRESS)
    parser.add_argument("--duckdb-reference", nargs=2, metavar=("GLOB", "TARGET"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_shard:
        lake, users, seed = args.generate_shard
        generate_shard(Path(lake), int(users), int(seed), DAY1, TRAFFIC.days)
        return 0
    if args.duckdb_reference:
        return duckdb_main(*args.duckdb_reference)

    from analytics_settings import load_settings

    cache = (args.data_dir or load_settings().data_dir / "bench" / "lake").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    print(f"lake benchmark: one arrival day, Spark local[*] (driver {args.driver_memory}) vs one DuckDB "
          f"statement (threads={DUCKDB_THREADS}, memory_limit={DUCKDB_MEMORY_LIMIT}), {args.repeats} repeat(s), "
          f"{os.cpu_count()} cores, {psutil.virtual_memory().total / 1e9:.0f} GB RAM, load "
          f"{os.getloadavg()[0]:.1f}", flush=True)
    results: dict[int, list[dict]] = {}
    for events in check_disk(cache, args.events):
        results[events] = [measure(events, cache, args.driver_memory, r, args.spark_event_log) for r in range(args.repeats)]
        print_size(events, results[events])
    print_goals(results)
    return 0


def _median(runs: list[dict], *keys: str) -> float:
    values = []
    for run in runs:
        value = run
        for key in keys:
            value = value[key]
        values.append(value)
    return statistics.median(values)


def print_size(events: int, runs: list[dict]) -> None:
    info = runs[0]["info"]
    day1, day2 = info["days"][DAY1.isoformat()], info["days"].get(DAY2.isoformat(), {"events": 0, "bytes": 0})
    m = lambda *keys: _median(runs, *keys)
    print(f"\n  {events:,} events target: day 1 {day1['events']:,} lines ({day1['bytes'] / 1e9:.2f} GB NDJSON), "
          f"day 2 {day2['events']:,} lines; medians of {len(runs)}", flush=True)
    failed = [f"day {i}: {run[key]['failed']} (after {run[key]['wall']:.0f} s, {run[key]['log']})"
              for run in runs for i, key in ((1, "day1"), (2, "day2")) if "failed" in run[key]]
    if failed:
        for line in failed:
            print(f"    Spark FAILED {line}")
        print(f"    DuckDB seconds                  {m('duckdb', 'seconds'):>12.1f}   "
              f"(rows out {m('duckdb', 'rows_out'):,.0f}, wall {m('duckdb', 'wall'):.1f} s)")
        print(f"    DuckDB peak tree memory         {m('duckdb', 'peak_gb'):>12.2f} GB", flush=True)
        return
    ratio = m("day1", "seconds") / m("duckdb", "seconds")
    print(f"    events (rows in / out)          {m('day1', 'rows_in'):>12,.0f} / {m('day1', 'rows_out'):,.0f}")
    print(f"    Spark events/s (excl. start-up) {m('day1', 'events_per_second'):>12,.0f}")
    print(f"    Spark seconds (excl. start-up)  {m('day1', 'seconds'):>12.1f}   "
          f"runs {[round(r['day1']['seconds'], 1) for r in runs]}")
    print(f"    Spark start-up seconds          {m('day1', 'startup'):>12.1f}")
    print(f"    Spark wall seconds              {m('day1', 'wall'):>12.1f}")
    print(f"    Spark peak tree memory          {m('day1', 'peak_gb'):>12.2f} GB")
    print(f"    DuckDB seconds                  {m('duckdb', 'seconds'):>12.1f}   "
          f"(rows out {m('duckdb', 'rows_out'):,.0f}, wall {m('duckdb', 'wall'):.1f} s)")
    print(f"    DuckDB peak tree memory         {m('duckdb', 'peak_gb'):>12.2f} GB")
    print(f"    Spark / DuckDB seconds          {ratio:>12.2f}")
    print(f"    day 2 on top of day 1: Spark    {m('day2', 'seconds'):>12.1f} s excl. start-up, "
          f"{m('day2', 'events_per_second'):,.0f} events/s, rows in {m('day2', 'rows_in'):,.0f}, "
          f"across-day duplicates {m('day2', 'report', 'duplicates_across_days'):,.0f}")
    print(f"    peak memory day 1 -> day 2      {m('day1', 'peak_gb'):>12.2f} GB -> {m('day2', 'peak_gb'):.2f} GB "
          f"({m('day2', 'peak_gb') / m('day1', 'peak_gb'):.2f}x)", flush=True)


def print_goals(results: dict[int, list[dict]]) -> None:
    print()
    if any("failed" in run[day] for run in results.get(GOAL_SIZE, []) for day in ("day1", "day2")):
        print(f"  goal Spark within {GOAL_RATIO:g}x of DuckDB at 10M{'':<14} NOT MET (Spark failed)")
        print(f"  goal peak memory <= {GOAL_PEAK_GB:g} GB at 10M{'':<18} NOT MET (Spark failed)")
        return
    results = {events: runs for events, runs in results.items()
               if not any("failed" in run["day1"] or "failed" in run["day2"] for run in runs)}
    at_goal = results.get(GOAL_SIZE)
    if at_goal is None:
        closest = max(results) if results else None
        note = f" (not measured: run with --events {GOAL_SIZE})"
        print(f"  goal Spark within {GOAL_RATIO:g}x of DuckDB at 10M{'':<14} NOT MEASURED{note}")
        print(f"  goal peak memory <= {GOAL_PEAK_GB:g} GB at 10M{'':<18} NOT MEASURED{note}")
        if closest is not None:
            runs = results[closest]
            ratio = _median(runs, "day1", "seconds") / _median(runs, "duckdb", "seconds")
            peak = max(_median(runs, "day1", "peak_gb"), _median(runs, "day2", "peak_gb"))
            print(f"    at {closest:,}: ratio {ratio:.2f}, peak {peak:.2f} GB")
        return
    ratio = _median(at_goal, "day1", "seconds") / _median(at_goal, "duckdb", "seconds")
    peak = max(_median(at_goal, "day1", "peak_gb"), _median(at_goal, "day2", "peak_gb"))
    growth = _median(at_goal, "day2", "peak_gb") / _median(at_goal, "day1", "peak_gb")
    goals = {
        f"Spark within {GOAL_RATIO:g}x of DuckDB at 10M (ratio {ratio:.2f})": ratio <= GOAL_RATIO,
        f"peak memory <= {GOAL_PEAK_GB:g} GB at 10M (peak {peak:.2f} GB)": peak <= GOAL_PEAK_GB,
        f"memory not growing with days (day 2 / day 1 {growth:.2f})": growth <= 1.15,
    }
    for goal, met in goals.items():
        print(f"  goal {goal:<60} {'met' if met else 'NOT MET'}")


if __name__ == "__main__":
    sys.exit(main())
