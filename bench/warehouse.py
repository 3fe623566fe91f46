"""Warehouse benchmark: the whole daily chain (compaction through published warehouse), full and incremental,
next to a reference computing the same counts from the landing files by a separately written method.

    .venv/bin/python bench/warehouse.py [--events 2000000 10000000] [--repeats 1] [--driver-memory 2g]

For each size N the traffic generator's landing sink writes 31 simulated days with enough users that about
N events arrive on arrival days 1..31 (cached under ``<data dir>/bench/warehouse/events-N/``, ~1.1 KB of
NDJSON per event; what arrives after day 31 is cached but never used). Then, each in a fresh data folder
whose landing files are hard links to the cache, ``ANALYTICS_PIPELINE_START_DATE`` = day 1, Spark local[*]
with ``--driver-memory``, DuckDB at 4GB and 2 threads, every command measured as a subprocess (wall time,
peak RSS summed over its whole process tree, JVM and dbt included, sampled every 0.2 s):
  1. full history: days 1..31 landed, ``python -m orchestration.pipeline`` (one Dagster run: Spark
     compaction, gold rollup, dbt build, publish); the stage split comes from the run's Dagster event log
     and dbt's per-node times;
  2. the reference: one DuckDB statement over the same landing files (dedup by messageId, Segment's clock-skew
     correction), then identity stitching, sessions, day and week retention and funnels in pandas, written
     from the rules the README states (not from the models' SQL); its counts must equal the warehouse's, or
     the benchmark exits 1;
  3. metric queries (``metrics.typical``, when it exists) against the full run's served warehouse:
     median and p95 of each over ``--metric-repetitions``;
  4. incremental: days 1..30 through the pipeline (the history run), then day 31 landed and the pipeline
     again (measured);
  5. the same day alone: only day 31's landing files (its late events of earlier days included), pipeline.
Goals (at 10M): full pipeline <= 3x the reference; incremental day <= 2x the day alone; p95 of typical
metric queries < 100 ms; peak memory <= 6 GB and not growing with history. Results are kept as JSON in
``<data dir>/bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.measure import Traffic, cached_landing, link_landing, measure_command

START = date(2026, 3, 2)
DAYS = 31
LAST_DAY = START + timedelta(days=DAYS - 1)
HISTORY_DAYS = tuple(START + timedelta(days=d) for d in range(DAYS - 1))
TRAFFIC = Traffic(start=START, days=DAYS, counted_days=(*HISTORY_DAYS, LAST_DAY))
BYTES_PER_EVENT_ESTIMATE = 1100  # landing NDJSON
WORKING_BYTES_PER_EVENT = 1100  # bronze, gold, the served warehouse and its build copy, spill (estimate)
GOAL_SIZE = 10_000_000
GOAL_FULL_RATIO = 3.0
GOAL_INCREMENTAL_RATIO = 2.0
GOAL_P95_MS = 100.0
GOAL_PEAK_GB = 6.0
GOAL_QUALITY_COST = 0.2  # issue 5: validation adds at most 20% to the chain's wall time
GOAL_PEAK_GROWTH = 1.15  # incremental / alone: sampling noise, not growth
# The reference's DuckDB memory, at least the product's default (ANALYTICS_DUCKDB_MEMORY_LIMIT): a baseline at its
# best. The chain runs on the product's defaults.
REFERENCE_DUCKDB_MEMORY_LIMIT = "4GB"
DUCKDB_THREADS = 2
METRIC_REPETITIONS = 30

# The landing fields the reference reads, as DuckDB types (a subset of bench/lake.py's DUCKDB_COLUMNS).
REFERENCE_COLUMNS = """{
  messageId: 'VARCHAR', type: 'VARCHAR', event: 'VARCHAR', name: 'VARCHAR', userId: 'VARCHAR',
  anonymousId: 'VARCHAR', previousId: 'VARCHAR', timestamp: 'VARCHAR', originalTimestamp: 'VARCHAR',
  sentAt: 'VARCHAR', receivedAt: 'VARCHAR', properties: 'JSON',
  context: 'STRUCT(userAgent VARCHAR, bot BOOLEAN, page STRUCT(path VARCHAR))'
}"""
# spark_jobs/enrich.py's built-in bot pattern in RE2 (no look-behind): "bot" not preceded by "cu".
# ua-parser's "Spider" device family, which the compaction also counts as a bot, is not reproduced.
BOT_PATTERN = (r"(^|^.|[^c].|c[^u])bot|crawl|spider|slurp|headless|python-requests|python-urllib|aiohttp|httpx"
               r"|go-http-client|okhttp|java/|libwww|curl|wget|httpclient|axios|node-fetch|scrapy|phantomjs"
               r"|selenium|puppeteer|playwright|lighthouse|facebookexternalhit|monitor|pingdom|uptime")


# ------------------------------------------------------------------ the reference: events read and deduplicated in DuckDB


def dbt_vars() -> dict:
    """The dbt project's vars (funnels, session rules), so the reference computes what the models compute."""
    import yaml

    return yaml.safe_load((REPO / "dbt_project" / "dbt_project.yml").read_text())["vars"]


# ------------------------------------------------------------------ the code under test

# the data docs' npm packages (100 MB): linked into a snapshot, not copied
DOCS_ASSETS = Path("data_quality", "docs_assets", "node_modules")
CODE_IGNORED = {".venv", ".data", ".git", ".pytest_cache", ".ruff_cache", ".hypothesis", ".dagster_home", "mlruns",
                "mlartifacts"}


def _uncopied(folder: str, names: list[str]) -> set[str]:
    relative = Path(folder).resolve().relative_to(REPO)
    skipped = {name for name in names if name == "__pycache__" or name.endswith((".duckdb", ".wal"))}
    if relative == Path("."):
        skipped |= CODE_IGNORED & set(names)
    elif relative == Path("dbt_project"):
        skipped |= {"target", "logs", "dbt_packages"} & set(names)
    elif relative == Path("bench"):
        skipped |= {"results"} & set(names)
    elif relative == DOCS_ASSETS.parent:
        skipped |= {DOCS_ASSETS.name} & set(names)
    return skipped


def code_snapshot(target: Path | None, cache: Path) -> Path:
    """The code every command of this benchmark runs: a copy of the working tree taken now (or ``target``, one
    taken earlier, with this benchmark's own files refreshed). Others edit the dbt project while a run lasts an
    hour; a copy keeps one run's scenarios on the same models and its dbt target folder apart from theirs."""
    if target is None:
        target = cache / "code" / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
        shutil.copytree(REPO, target, ignore=_uncopied)
        (target / DOCS_ASSETS).symlink_to(REPO / DOCS_ASSETS, target_is_directory=True)
    elif not (target / "orchestration").is_dir():
        sys.exit(f"--code {target}: not a code snapshot of this repository (no orchestration/ in it); "
                 "leave --code out to take a new one")
    else:
        shutil.copytree(REPO / "bench", target / "bench", ignore=_uncopied, dirs_exist_ok=True)
    return target.resolve()


def parse_main() -> int:
    """Parse the snapshot's dbt project (what the pipeline does first when the manifest is missing or older
    than the project), so the first measured run does not pay for it."""
    from analytics_settings import load_settings
    from warehouse import ensure_manifest

    ensure_manifest(load_settings())
    return 0


def in_code(module: str, *args: str) -> list[str]:
    """The command running ``python -m module args`` from the snapshot (run it with ``cwd=code``)."""
    return [sys.executable, "-m", module, *args]


def reference_script(landing_glob: str, max_lateness_days: int = 30) -> list[tuple[str, str]]:
    """(name, statement) pairs of the reference's SQL, in order."""
    to_time = "try_cast({} as timestamptz)::timestamp"  # ISO 8601 with Z, as UTC wall time (TimeZone = UTC)
    events = f"""
create table events as
with landed as (
    select *,
        {to_time.format('receivedAt')} as received_at,
        {to_time.format('coalesce(originalTimestamp, timestamp)')} as device_time,
        {to_time.format('sentAt')} as sent_at
    from read_json('{landing_glob}', format = 'newline_delimited', columns = {REFERENCE_COLUMNS},
                   ignore_errors = true)
),
corrected as (
    -- Segment's rule: receivedAt - (sentAt - originalTimestamp), bounded to receivedAt + 23 h
    select *,
        case when sent_at is not null and device_time is not null then received_at - (sent_at - device_time)
             else coalesce(device_time, received_at) end as corrected_time
    from landed
),
accepted as (
    select *,
        case when corrected_time > received_at + interval 23 hours then received_at
             else corrected_time end as event_time
    from corrected
    -- what the compaction quarantines: no messageId, an unparseable time, older than the lateness limit
    where messageId is not null and received_at is not null
      and (timestamp is null or {to_time.format('timestamp')} is not null)
      and (originalTimestamp is null or {to_time.format('originalTimestamp')} is not null)
      and (sentAt is null or sent_at is not null)
)
select
    messageId                                                                   as event_id,
    type                                                                        as event_type,
    case when type = 'track' then nullif(array_to_string(list_transform(
             list_filter(regexp_split_to_array(event, '[\\s_-]+'), lambda w: w <> ''),
             lambda w: upper(w[1]) || lower(w[2:])), ' '), '')
         else type end                                                          as event_name,
    userId                                                                      as user_id,
    anonymousId                                                                 as anonymous_id,
    previousId                                                                  as previous_id,
    event_time,
    event_time::date                                                            as event_date,
    received_at,
    coalesce(context.page.path, name)                                           as page,
    try_cast(json_extract_string(properties, '$.revenue') as decimal(18, 2))    as revenue,
    coalesce(context.bot, false)
        or coalesce(regexp_matches(context.userAgent, '{BOT_PATTERN}', 'i'), false) as is_bot
from accepted
where event_time >= received_at - interval {max_lateness_days} days
qualify row_number() over (partition by messageId order by received_at) = 1
"""
    return [("events (read, dedup, event time)", events)]


# ------------------------------------------------------------------ the reference: the analytics, in pandas

# Stitching, sessions, retention and funnels are recomputed here from the rules as the README states them, with
# pandas rather than SQL, so that equal counts mean two separately written methods agree (a restatement of the
# models' SQL would repeat their mistakes). Only the events' read, dedup and event time stay in DuckDB: those are
# the lake's rules, which bench/lake.py and the compaction's tests check.
REFERENCE_EVENT_COLUMNS = ("event_id", "event_type", "event_name", "user_id", "anonymous_id", "previous_id",
                           "event_time", "event_date", "is_bot")


def stitched_user_keys(events: pd.DataFrame) -> tuple[pd.Series, int]:
    """Each event's user (an anonymous id belongs to the user it was first linked to, by an identify or any call
    carrying both ids or an alias; aliases of user ids followed one more hop) and the number of linked ids."""
    both = events[events.anonymous_id.notna() & events.user_id.notna() & (events.anonymous_id != events.user_id)]
    aliases = events[(events.event_type == "alias") & events.previous_id.notna() & events.user_id.notna()
                     & (events.previous_id != events.user_id)]
    links = pd.concat([
        pd.DataFrame({"linked_id": both.anonymous_id, "user_id": both.user_id, "at": both.event_time,
                      "event_id": both.event_id, "is_alias": both.event_type == "alias"}),
        pd.DataFrame({"linked_id": aliases.previous_id, "user_id": aliases.user_id, "at": aliases.event_time,
                      "event_id": aliases.event_id, "is_alias": True}),
    ], ignore_index=True)
    first = links.sort_values(["at", "event_id"]).drop_duplicates("linked_id")
    owner = first.set_index("linked_id").user_id
    alias_of = first[first.is_alias].set_index("linked_id").user_id
    user_key_of = owner.map(alias_of).fillna(owner)
    text = events.anonymous_id.dtype  # what map gives without any link is untyped

    def key_of(ids: pd.Series) -> pd.Series:
        return ids.map(user_key_of).astype(text)

    anonymous_key = key_of(events.anonymous_id).where(events.user_id.isna())
    keys = key_of(events.user_id).fillna(events.user_id).fillna(anonymous_key).fillna(events.anonymous_id)
    return keys, len(first)


def session_count(events: pd.DataFrame, keys: pd.Series, inactivity: pd.Timedelta, longest: pd.Timedelta) -> int:
    """Runs of a user's events less than ``inactivity`` apart, each cut into slices of ``longest`` from its start."""
    ordered = pd.DataFrame({"key": keys.fillna(""), "time": events.event_time, "id": events.event_id}).sort_values(
        ["key", "time", "id"], ignore_index=True)
    same_user = ordered.key.eq(ordered.key.shift()).fillna(False).to_numpy(dtype=bool)
    new_run = ~(same_user & (ordered.time - ordered.time.shift() < inactivity).to_numpy(dtype=bool))
    run = new_run.cumsum()
    run_start = ordered.time.where(new_run).ffill()
    slice_number = (ordered.time - run_start) // longest
    return int(pd.DataFrame({"run": run, "slice": slice_number}).drop_duplicates().shape[0])


def retention_counts(activity: pd.DataFrame) -> dict:
    """Per cohort grain: cohorts, users (each in one cohort) and (user, period) pairs with activity, where
    ``activity`` holds one row per human user and active day."""
    first_seen = activity.groupby("key").day.transform("min")
    week = activity.day - pd.to_timedelta(activity.day.dt.weekday, unit="D")
    first_week = first_seen - pd.to_timedelta(first_seen.dt.weekday, unit="D")
    counts = {}
    for grain, cohort, active in (("day", first_seen, activity.day), ("week", first_week, week)):
        counts[grain] = {"cohorts": int(cohort.nunique()), "cohort_users": int(activity.key.nunique()),
                         "retained_users": int(pd.DataFrame({"key": activity.key, "period": active})
                                               .drop_duplicates().shape[0])}
    return counts


def funnel_entries(tracks: pd.DataFrame, steps: list[str], window: pd.Timedelta, entry: str) -> list[int]:
    """Users entering each step. A user enters at their first step-1 event (``entry`` ``first_ever``) or at the
    first one of each day they do step 1 (``each_in_range``); each next step is the first of its events at or
    after the previous step and before step 1 + ``window``; a user counts once per step, whichever entry got there."""
    first_steps = tracks[tracks.event_name == steps[0]].assign(day=lambda frame: frame.time.dt.floor("D"))
    entries_of = ["key"] if entry == "first_ever" else ["key", "day"]
    reached = (first_steps.groupby(entries_of, as_index=False).time.min()
               .rename(columns={"time": "entered_at"})[["key", "entered_at"]])
    reached["previous_at"] = reached.entered_at
    entries = [reached.key.nunique()]
    for step in steps[1:]:
        candidates = tracks[tracks.event_name == step].merge(reached, on="key")
        candidates = candidates[(candidates.time >= candidates.previous_at)
                                & (candidates.time < candidates.entered_at + window)]
        reached = (candidates.groupby(["key", "entered_at"], as_index=False).time.min()
                   .rename(columns={"time": "previous_at"}))
        entries.append(reached.key.nunique())
    return entries


def reference_counts(events: pd.DataFrame, variables: dict) -> dict:
    """What :func:`warehouse_counts` reads from the warehouse, computed from the deduplicated events."""
    keys, links = stitched_user_keys(events)
    sessions = session_count(events, keys, pd.Timedelta(minutes=int(variables["session_inactivity_minutes"])),
                             pd.Timedelta(hours=int(variables["session_max_hours"])))
    human = ~events.is_bot
    activity = pd.DataFrame({"key": keys[human], "day": pd.to_datetime(events.event_date[human])}).drop_duplicates()
    tracks = pd.DataFrame({"key": keys, "event_name": events.event_name, "time": events.event_time})[
        human & (events.event_type == "track")]
    funnels = {funnel["name"]: funnel_entries(tracks, funnel["steps"],
                                              pd.Timedelta(days=int(funnel["conversion_window_days"])),
                                              funnel.get("entry", "each_in_range"))
               for funnel in variables["funnels"]}
    return {"events": len(events), "sessions": sessions, "identity_links": links,
            "funnels": dict(sorted(funnels.items())), "retention": retention_counts(activity)}


def reference_main(target: str, landing_glob: str, events_only: bool = False) -> int:
    """Run the reference (or only its events statement) into the DuckDB file ``target``; prints its counts and
    timings as JSON."""
    import duckdb
    import pyarrow as pa

    script = reference_script(landing_glob)
    for leftover in (Path(target), Path(f"{target}.wal")):
        leftover.unlink(missing_ok=True)
    Path(target).with_suffix(".sql").write_text(";\n".join(sql.strip() for _, sql in script) + ";\n")
    started = time.perf_counter()
    seconds = {}
    with duckdb.connect(target, config={"memory_limit": REFERENCE_DUCKDB_MEMORY_LIMIT, "threads": DUCKDB_THREADS,
                                        "temp_directory": f"{target}.tmp"}) as db:
        db.execute("set TimeZone = 'UTC'")
        db.execute("set preserve_insertion_order = false")
        for name, sql in script:
            step = time.perf_counter()
            try:
                db.execute(sql)
            except duckdb.Error as error:
                raise RuntimeError(f"reference statement {name!r} failed: {error}") from None
            seconds[name] = round(time.perf_counter() - step, 2)
        if events_only:
            counts = {"events": db.execute("select count(*) from events").fetchone()[0]}
        else:
            step = time.perf_counter()
            # Arrow-backed strings: a third of the memory of Python string objects
            events = db.sql(f"select {', '.join(REFERENCE_EVENT_COLUMNS)} from events").to_arrow_table().to_pandas(
                types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
            counts = reference_counts(events, dbt_vars())
            seconds["stitching, sessions, retention, funnels (pandas)"] = round(time.perf_counter() - step, 2)
    print(json.dumps({"seconds": time.perf_counter() - started, "statement_seconds": seconds, "counts": counts}))
    return 0


def warehouse_counts(served: Path) -> dict:
    """What the warehouse and the reference must agree on, read from the served warehouse's marts."""
    import duckdb

    with duckdb.connect(str(served), read_only=True) as db:
        entered = {(name, step): users for name, step, users in db.execute(
            "select funnel_name, step_number, entered from marts.fct_funnels where dimension = 'all'").fetchall()}
        retention = db.execute(
            "select cohort_grain, count(distinct cohort_start), sum(cohort_users) filter (where period_number = 0), "
            "sum(retained_users) from marts.fct_retention group by 1 order by 1").fetchall()
        return {
            "events": db.execute("select count(*) from marts.fct_events").fetchone()[0],
            "sessions": db.execute("select count(*) from marts.dim_sessions").fetchone()[0],
            "identity_links": db.execute("select count(*) from intermediate.int_identity_links").fetchone()[0],
            # a step nobody reached has no row in fct_funnels: 0 users entered it
            "funnels": {funnel["name"]: [entered.get((funnel["name"], n), 0) for n in range(1, len(funnel["steps"]) + 1)]
                        for funnel in sorted(dbt_vars()["funnels"], key=lambda funnel: funnel["name"])},
            "retention": {grain: {"cohorts": cohorts, "cohort_users": int(users), "retained_users": int(retained)}
                          for grain, cohorts, users, retained in retention},
        }


# ------------------------------------------------------------------ the pipeline, measured


def pipeline_env(data_dir: Path, driver_memory: str, code: Path) -> dict:
    """The settings of every scenario; the snapshot's packages first on the path (the venv's editable install
    points at the working tree)."""
    env = {**os.environ, "PYTHONPATH": str(code),
           "ANALYTICS_DATA_DIR": str(data_dir), "ANALYTICS_PIPELINE_START_DATE": START.isoformat(),
           "ANALYTICS_SPARK_MASTER": "local[*]", "ANALYTICS_SPARK_DRIVER_MEMORY": driver_memory,
           "ANALYTICS_SPARK_EXECUTOR_MEMORY": driver_memory, "ANALYTICS_DUCKDB_THREADS": str(DUCKDB_THREADS),
           "PYTHONUNBUFFERED": "1"}
    for name in ("ANALYTICS_LAKE_URI", "ANALYTICS_WAREHOUSE_PATH", "DAGSTER_HOME",
                 "ANALYTICS_DUCKDB_MEMORY_LIMIT"):  # the product's default
        env.pop(name, None)
    return env


def process_kind(process: psutil.Process) -> str | None:
    """Spark (the job's Python and its JVM) or dbt (DuckDB runs inside it); None: its parent's kind."""
    command = process.cmdline()
    if process.name() == "java" or any(part.startswith("spark_jobs.") for part in command[:4]):
        return "spark"
    if any(Path(part).name == "dbt" for part in command[:2]):
        return "dbt"
    return None


RUN_ID = re.compile(r"\(run ([0-9a-f-]{36})\)")
SPAN = re.compile(r"pipeline: arrival days (\S+) are up to date")
FAILED_SPAN = re.compile(r"pipeline: the run for (\S+) failed")
STEPS_FAILED = re.compile(r"Steps failed: (\[.*?\])")
ERROR_MESSAGE = re.compile(r"^\s*((?:[A-Za-z]+ ){0,3}Error(?: in [^:]+)?:? .*|.*OutOfMemoryError.*"
                           r"|dagster\._core\.errors\.\w+: .*)$")


def failure_reason(log_text: str) -> str:
    """The failed steps, how many dbt nodes errored, and the first distinct error messages of a failed run."""
    text = ANSI.sub("", log_text)
    steps = STEPS_FAILED.search(text)
    dbt_errors = len(re.findall(r"^\d+ of \d+ ERROR ", text, re.MULTILINE))
    messages: list[str] = []
    for line in text.splitlines():
        match = ERROR_MESSAGE.match(line)
        if match and match.group(1).strip()[:160] not in messages:
            messages.append(match.group(1).strip()[:160])
        if len(messages) == 3:
            break
    return (f"steps failed {steps.group(1) if steps else '?'}"
            + (f", {dbt_errors} dbt nodes in error" if dbt_errors else "") + "; " + " | ".join(messages))


def run_pipeline(data_dir: Path, driver_memory: str, code: Path, log: Path, spark_events: Path | None = None) -> dict:
    """``python -m orchestration.pipeline`` in ``data_dir``: wall, peak memory, the days it ran, stage split
    (and where each Spark job's time went, when ``spark_events`` is a folder for Spark's event logs)."""
    env = pipeline_env(data_dir, driver_memory, code)
    if spark_events is not None:  # through a spark-defaults.conf of the benchmark's own
        conf = spark_events / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (conf / "spark-defaults.conf").write_text(f"spark.eventLog.enabled true\nspark.eventLog.dir "
                                                  f"{spark_events.as_uri()}\nspark.eventLog.compress false\n")
        env["SPARK_CONF_DIR"] = str(conf)
    launched, load_before = time.time(), os.getloadavg()[0]
    measured = measure_command(in_code("orchestration.pipeline"), env, log, kind_of=process_kind, cwd=code,
                               check=False)
    text = log.read_text(errors="replace")
    run_id, span = RUN_ID.search(text), SPAN.search(text) or FAILED_SPAN.search(text)
    if run_id is None or span is None:
        raise RuntimeError(f"the pipeline in {data_dir} ran nothing (exit code {measured.exit_code}); its log "
                           f"{log} ends:\n{text[-3000:]}")

    def named(by_kind: dict[str, float]) -> dict[str, float]:
        return {("dagster" if kind == "root" else kind): gb for kind, gb in by_kind.items()}

    result = {"wall": measured.seconds, "peak_gb": measured.peak_gb, "peak_gb_by_kind": named(measured.peak_gb_by_kind),
              "at_peak_gb_by_kind": named(measured.at_peak_gb_by_kind), "peak_at_seconds": measured.peak_at_seconds,
              "days": span.group(1), "run_id": run_id.group(1), "log": str(log),
              "load": [round(load_before, 1), round(os.getloadavg()[0], 1)]}
    if measured.exit_code != 0:
        result["failed"] = failure_reason(text)
    split = subprocess.run(in_code("bench.warehouse", "--stage-split", str(data_dir / "dagster"), run_id.group(1)),
                           cwd=code, env={**env, "DAGSTER_HOME": str(data_dir / "dagster")},
                           capture_output=True, text=True, check=False)
    if split.returncode != 0:
        print(f"    (no stage split: {split.stderr.strip().splitlines()[-1:]})", flush=True)
        return result
    result["stages"] = stage_split(json.loads(split.stdout.strip().splitlines()[-1]), launched,
                                   launched + measured.seconds)
    result["dbt"] = dbt_node_times(text)
    result["sizes"] = folder_sizes(data_dir)
    if spark_events is not None:
        result["spark"] = spark_time_by_call_site(spark_events)
    return result


def spark_time_by_call_site(events_dir: Path, top: int = 6) -> dict[str, dict]:
    """Per Spark application (compaction, rollup): its wall time, the seconds of its SQL executions summed by
    the line of the job that ran them, and the time outside any execution (driver-side Python, planning)."""
    applications = {}
    for log in sorted(p for p in events_dir.iterdir() if p.name != "conf"):
        # one file per application, or (Spark 4's rolling event log) a folder of events_<n>_<app> files
        parts = sorted((p for p in log.iterdir() if p.name.startswith("events_")),
                       key=lambda p: int(p.name.split("_")[1])) if log.is_dir() else [log]
        name, started, ended = log.name, None, None
        executions: dict[int, list] = {}
        for line in (line for part in parts for line in part.open(errors="replace")):
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerApplicationStart":
                name, started = event["App Name"], event["Timestamp"] / 1000
            elif kind == "SparkListenerApplicationEnd":
                ended = event["Timestamp"] / 1000
            elif kind.endswith("SparkListenerSQLExecutionStart") and event.get("rootExecutionId",
                                                                               event["executionId"]) == event["executionId"]:
                executions[event["executionId"]] = [event["time"] / 1000, None, event["description"]]
            elif kind.endswith("SparkListenerSQLExecutionEnd") and event["executionId"] in executions:
                executions[event["executionId"]][1] = event["time"] / 1000
        done = [(start, end, re.sub(r" at /.*/", " at ", site)) for start, end, site in executions.values() if end]
        by_site: dict[str, float] = {}
        for start, end, site in done:
            by_site[site] = by_site.get(site, 0.0) + end - start
        busy, covered_to = 0.0, 0.0
        for start, end, _ in sorted(done):
            busy += max(0.0, end - max(start, covered_to))
            covered_to = max(covered_to, end)
        wall = (ended or covered_to) - (started or 0.0) if started else None
        applications[name] = {
            "wall": wall, "in_executions": busy, "executions": len(done),
            "outside_executions": None if wall is None else wall - busy,
            "top_call_sites": dict(sorted(by_site.items(), key=lambda item: -item[1])[:top]),
        }
    return applications


def stage_split_main(run_id: str) -> int:
    """The timestamps of a pipeline run's steps and their reports, from the Dagster event log (JSON)."""
    import dagster as dg

    steps: dict[str, dict] = {}
    messages: dict[str, float] = {}
    reports: dict[str, dict] = {}
    run: dict[str, float] = {}
    with dg.DagsterInstance.get() as instance:
        for entry in instance.all_logs(run_id):
            event = entry.dagster_event
            if event is None:
                for prefix in ("Running dbt command", "Finished dbt command", "published "):
                    if entry.user_message.startswith(prefix):
                        messages.setdefault(prefix.strip(), entry.timestamp)
                continue
            kind = event.event_type_value
            if kind in ("PIPELINE_START", "PIPELINE_SUCCESS", "PIPELINE_FAILURE"):
                run[kind] = entry.timestamp
            elif kind in ("STEP_START", "STEP_SUCCESS", "STEP_FAILURE"):
                steps.setdefault(entry.step_key, {})[kind] = entry.timestamp
            elif kind == "ASSET_MATERIALIZATION" and entry.step_key in ("bronze__events", "gold__daily_event_rollup"):
                metadata = event.event_specific_data.materialization.metadata
                reports[entry.step_key] = {key: metadata[key].value for key in (
                    "spark_startup_seconds", "seconds", "rows_in", "rows_out", "events_total") if key in metadata}
    print(json.dumps({"run": run, "steps": steps, "messages": messages, "reports": reports}))
    return 0


def stage_split(log: dict, launched: float, ended: float) -> dict:
    """Seconds per stage: before the run (imports, dbt parse), compaction, rollup, warehouse (copy of the
    served file and dbt start, dbt build, publish) and after the run."""
    steps, messages, reports, run = log["steps"], log["messages"], log["reports"], log["run"]

    def step(key: str) -> float | None:
        times = steps.get(key, {})
        end = times.get("STEP_SUCCESS", times.get("STEP_FAILURE"))
        return None if end is None or "STEP_START" not in times else end - times["STEP_START"]

    split = {"before run": run.get("PIPELINE_START", launched) - launched,
             "compaction": step("bronze__events"), "rollup": step("gold__daily_event_rollup"),
             "warehouse": step("warehouse"),
             "after run": ended - run.get("PIPELINE_SUCCESS", run.get("PIPELINE_FAILURE", ended))}
    for key, name in (("bronze__events", "compaction"), ("gold__daily_event_rollup", "rollup")):
        if key in reports:
            split[f"{name} spark start-up"] = reports[key].get("spark_startup_seconds")
            split[f"{name} rows"] = reports[key].get("rows_in", reports[key].get("events_total"))
    # the quality suites (issue 5): each check's step, the first of a run including Great Expectations' import
    quality = {key.removesuffix("_quality"): step(key) for key in steps if key.endswith("_quality")}
    split.update({f"quality {key}": seconds for key, seconds in quality.items()})
    split["quality"] = sum(seconds or 0.0 for seconds in quality.values())
    start = steps.get("warehouse", {}).get("STEP_START")
    running, finished, published = (messages.get(k) for k in ("Running dbt command", "Finished dbt command",
                                                               "published"))
    if start and running and finished and published:
        split["warehouse copy + dbt start"] = running - start
        split["warehouse dbt build"] = finished - running
        split["warehouse publish"] = published - finished
    return split


ANSI = re.compile(r"\x1b\[[0-9;]*m")
DBT_NODE = re.compile(r"^\d+ of \d+ (OK created sql (\w+) model (\S+)|PASS (\S+)|OK loaded seed file (\S+))"
                      r".*\[\w+ in ([\d.]+)s\]")


def dbt_node_times(log_text: str) -> dict:
    """Per-node seconds of the dbt build, from its console lines (nodes overlap on DuckDB's 2 threads)."""
    models: dict[str, float] = {}
    tests = 0.0
    for line in ANSI.sub("", log_text).splitlines():
        match = DBT_NODE.match(line.strip())
        if match is None:
            continue
        seconds = float(match.group(6))
        if match.group(3):
            models[match.group(3)] = seconds
        else:
            tests += seconds
    slowest = dict(sorted(models.items(), key=lambda item: -item[1])[:6])
    return {"models_seconds": round(sum(models.values()), 1), "tests_seconds": round(tests, 1),
            "slowest_models": slowest}


def folder_sizes(data_dir: Path) -> dict[str, int]:
    def size(path: Path) -> int:
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0

    return {"bronze": size(data_dir / "lake" / "bronze"), "gold": size(data_dir / "lake" / "gold"),
            "warehouse": size(data_dir / "warehouse")}


# ------------------------------------------------------------------ metric queries


def metric_queries_main(repetitions: int) -> int:
    """Time ``metrics.typical``'s queries on the served warehouse; prints JSON (or why it was skipped).

    THE HOOK FOR ``metrics/typical.py``: it is being written by another engineer. Accepted shapes: a
    ``typical_queries()`` function or a ``TYPICAL_QUERIES`` constant giving name -> a callable (called with
    no argument) or a dict of keyword arguments for ``metrics.query``.
    """
    try:
        import metrics
        from metrics import typical
    except ImportError as error:
        print(json.dumps({"skipped": f"metrics.typical is not importable ({error}); no metric queries timed"}))
        return 0
    source = getattr(typical, "typical_queries", None) or getattr(typical, "TYPICAL_QUERIES", None)
    if callable(source):
        try:  # the range ends where the generated traffic does, whatever the warehouse says
            queries = source(end=LAST_DAY + timedelta(days=1))
        except TypeError:
            queries = source()
    else:
        queries = source
    if not queries:
        print(json.dumps({"skipped": "metrics.typical has no typical_queries() / TYPICAL_QUERIES"}))
        return 0
    if not isinstance(queries, dict):
        queries = {getattr(q, "__name__", f"query {i + 1}"): q for i, q in enumerate(queries)}
    timings = {}
    for name, query in queries.items():
        def call(query=query):
            return query() if callable(query) else metrics.query(**query)

        started = time.perf_counter()
        call()
        first = (time.perf_counter() - started) * 1000
        samples = []
        for _ in range(repetitions):
            started = time.perf_counter()
            call()
            samples.append((time.perf_counter() - started) * 1000)
        samples.sort()
        timings[name] = {"first_ms": first, "median_ms": statistics.median(samples),
                         "p95_ms": samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))],
                         "repetitions": repetitions}
    print(json.dumps({"queries": timings}))
    return 0


def time_metric_queries(data_dir: Path, driver_memory: str, code: Path, repetitions: int, log: Path) -> dict:
    completed = subprocess.run(in_code("bench.warehouse", "--metric-queries", str(repetitions)), cwd=code,
                               env=pipeline_env(data_dir, driver_memory, code), capture_output=True, text=True,
                               check=False)
    log.write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        return {"skipped": f"metric queries failed (log {log}): "
                           f"{(completed.stderr.strip().splitlines() or ['no output'])[-1][:200]}"}
    return json.loads(completed.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ one size


def fresh_data_dir(source: Path, data_dir: Path, days: tuple[date, ...]) -> None:
    shutil.rmtree(data_dir, ignore_errors=True)
    link_landing(source, data_dir / "lake", days)


def measure(events: int, cache: Path, code: Path, driver_memory: str, repeat: int, repetitions: int, keep: bool,
            spark_event_log: bool, result: dict) -> None:
    """Every scenario of one size into ``result`` (filled as they finish, so a failure keeps what was measured)."""
    source, result["info"] = cached_landing(events, cache, TRAFFIC, label=f"{DAYS} days")
    run_root = cache / "runs" / f"events-{events}-{repeat}"
    shutil.rmtree(run_root, ignore_errors=True)
    logs = run_root / "logs"
    logs.mkdir(parents=True)

    def pipeline(name: str, data_dir: Path, what: str) -> bool:
        print(f"    {name}: {what} …", flush=True)
        run = result[name] = run_pipeline(data_dir, driver_memory, code, logs / f"pipeline-{name}.log",
                                          logs / f"spark-events-{name}" if spark_event_log else None)
        print(f"      {run['wall']:.0f} s, peak {run['peak_gb']:.2f} GB ({_peaks(run)}); load average "
              f"{run['load'][0]} -> {run['load'][1]}"
              + (f"\n      FAILED: {run['failed']} (log {run['log']})" if "failed" in run else ""), flush=True)
        return "failed" not in run

    def remove(*paths: Path) -> None:
        for path in paths if not keep else ():
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)

    try:
        full = run_root / "full"
        fresh_data_dir(source, full, TRAFFIC.counted_days)
        if pipeline("full", full, f"pipeline over arrival days 1..{DAYS}"):
            result["full"]["counts"] = warehouse_counts(full / "warehouse" / "analytics.duckdb")
            print("    metric queries on the full run's warehouse …", flush=True)
            result["metrics"] = time_metric_queries(full, driver_memory, code, repetitions,
                                                    logs / "metric-queries.log")
        else:
            result["metrics"] = {"skipped": "no warehouse: the full run failed"}
        print("    reference: DuckDB read and dedup of the same landing files, the analytics in pandas …", flush=True)
        target = run_root / "reference.duckdb"
        glob = str(full / "lake" / "landing" / "received_date=*" / "hour=*" / "*.ndjson")
        measured = measure_command(in_code("bench.warehouse", "--reference", str(target), glob),
                                   {**os.environ, "PYTHONPATH": str(code)}, logs / "reference.log", cwd=code)
        answer = json.loads((logs / "reference.log").read_text().strip().splitlines()[-1])
        result["reference"] = {"wall": measured.seconds, "peak_gb": measured.peak_gb, **answer,
                               "bytes": target.stat().st_size}
        print(f"      {measured.seconds:.0f} s, peak {measured.peak_gb:.2f} GB", flush=True)
        remove(full, target, Path(f"{target}.tmp"))

        incremental = run_root / "incremental"
        fresh_data_dir(source, incremental, HISTORY_DAYS)
        if pipeline("history", incremental, f"pipeline over arrival days 1..{DAYS - 1}"):
            link_landing(source, incremental / "lake", [LAST_DAY])
            if pipeline("incremental", incremental, f"day {DAYS} landed on top, pipeline again"):
                result["incremental"]["counts"] = warehouse_counts(incremental / "warehouse" / "analytics.duckdb")
                if result["incremental"]["days"] != LAST_DAY.isoformat():
                    print(f"  WARNING: the incremental run ran arrival days {result['incremental']['days']}, "
                          f"not only {LAST_DAY}", flush=True)
        else:
            result["incremental"] = {"skipped": "the history run failed"}
        remove(incremental)

        alone = run_root / "alone"
        fresh_data_dir(source, alone, (LAST_DAY,))
        pipeline("alone", alone, f"pipeline over arrival day {DAYS} only")
        remove(alone)
    except Exception:
        print(f"  a measurement failed; data and logs kept in {run_root}", flush=True)
        raise


def check_disk(cache: Path, sizes: list[int]) -> list[int]:
    """The sizes that fit on the disk of ``cache`` (a clear warning for the others)."""
    fitting = []
    free = shutil.disk_usage(cache).free
    for events in sizes:
        cached = (cache / f"events-{events}" / "complete.json").exists()
        # landing (unless cached; ~5% arrives after day 31) + one scenario's lake and warehouse at a time
        need = events * (BYTES_PER_EVENT_ESTIMATE * (0 if cached else 1.05) + WORKING_BYTES_PER_EVENT)
        if need > free:
            print(f"  SKIPPED {events:,} events: needs ~{need / 1e9:.0f} GB on {cache}, "
                  f"{free / 1e9:.0f} GB free (df -h {cache})")
            continue
        free -= need
        fitting.append(events)
    return fitting


# ------------------------------------------------------------------ report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[2_000_000, 10_000_000],
                        help="sizes: events arriving on days 1..31")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--driver-memory", default="2g",
                        help="ANALYTICS_SPARK_DRIVER_MEMORY (local mode; the product's default is 2g)")
    parser.add_argument("--metric-repetitions", type=int, default=METRIC_REPETITIONS,
                        help="timed repetitions of each metric query (after one warm-up)")
    parser.add_argument("--keep", action="store_true", help="keep each scenario's data folder (disk!)")
    parser.add_argument("--spark-event-log", action="store_true",
                        help="record Spark's event logs and print where each Spark job's time went, by line")
    parser.add_argument("--code", type=Path, default=None,
                        help="run the code snapshot of an earlier run (default: copy the working tree now)")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="cache of generated landing data (default <ANALYTICS_DATA_DIR>/bench/warehouse)")
    parser.add_argument("--reference", nargs=2, metavar=("TARGET", "GLOB"), help=argparse.SUPPRESS)
    parser.add_argument("--reference-events-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stage-split", nargs=2, metavar=("DAGSTER_HOME", "RUN_ID"), help=argparse.SUPPRESS)
    parser.add_argument("--metric-queries", type=int, metavar="REPETITIONS", help=argparse.SUPPRESS)
    parser.add_argument("--parse", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.parse:
        return parse_main()
    if args.reference:
        return reference_main(*args.reference, events_only=args.reference_events_only)
    if args.stage_split:
        return stage_split_main(args.stage_split[1])
    if args.metric_queries:
        return metric_queries_main(args.metric_queries)

    from analytics_settings import Settings, load_settings

    cache = (args.data_dir or load_settings().data_dir / "bench" / "warehouse").resolve()
    cache.mkdir(parents=True, exist_ok=True)
    product_limit = Settings.model_fields["duckdb_memory_limit"].default
    header = (f"warehouse benchmark: the daily chain (python -m orchestration.pipeline; Spark local[*] driver "
              f"{args.driver_memory}, DuckDB memory_limit={product_limit} threads={DUCKDB_THREADS}) vs an independent "
              f"reference (DuckDB memory_limit={REFERENCE_DUCKDB_MEMORY_LIMIT}), {DAYS} days from {START}, {args.repeats} "
              f"repeat(s), {os.cpu_count()} cores, {psutil.virtual_memory().total / 1e9:.0f} GB RAM, load "
              f"{os.getloadavg()[0]:.1f}")
    print(header, flush=True)
    results: dict[int, list[dict]] = {}
    mismatches: dict[int, list[str]] = {}
    started = datetime.now(UTC)
    results_file = cache.parent / "results" / f"warehouse-{started:%Y%m%dT%H%M%SZ}.json"
    results_file.parent.mkdir(parents=True, exist_ok=True)
    code = code_snapshot(args.code, cache)
    print(f"  code under test: {code} (a copy of the working tree; --code {code} runs it again)", flush=True)
    parsed = subprocess.run(in_code("bench.warehouse", "--parse"), cwd=code, capture_output=True, text=True,
                            env=pipeline_env(cache / "runs" / "parse", args.driver_memory, code), check=False)
    if parsed.returncode != 0:
        print(f"  WARNING: dbt parse of the snapshot failed (the first pipeline run will say why):\n"
              f"{parsed.stdout[-1500:]}{parsed.stderr[-1500:]}", flush=True)

    def save() -> None:
        results_file.write_text(json.dumps({"command": sys.argv, "header": header, "code": str(code),
                                            "results": results}, indent=2, default=str))

    for events in check_disk(cache, args.events):
        print(f"\n  {events:,} events", flush=True)
        results[events] = []
        for repeat in range(args.repeats):
            result: dict = {}
            results[events].append(result)
            try:
                measure(events, cache, code, args.driver_memory, repeat, args.metric_repetitions, args.keep,
                        args.spark_event_log, result)
            except Exception as error:
                result["failed"] = str(error)[-3000:]
                save()
                print(f"  partial results: {results_file}", flush=True)
                raise
            save()
        if different := print_size(events, results[events]):
            mismatches[events] = different
    print_goals(results)
    print(f"\n  results: {results_file} (load now {os.getloadavg()[0]:.1f})")
    for events, different in mismatches.items():
        print(f"  FAILED at {events:,} events: the warehouse and the independent reference disagree on "
              f"{', '.join(different)}; the warehouse's numbers are wrong or the reference is", file=sys.stderr)
    return 1 if mismatches else 0


SCENARIOS = ("full", "history", "incremental", "alone")


def _succeeded(runs: list[dict], name: str) -> list[dict]:
    """The repeats in which scenario ``name`` ran and did not fail."""
    return [run for run in runs if name in run and "wall" in run[name] and "failed" not in run[name]]


def _median(runs: list[dict], name: str, key: str) -> float | None:
    """The median of ``run[name][key]`` over the repeats in which the scenario succeeded (None if none did)."""
    values = [run[name][key] for run in _succeeded(runs, name)]
    return statistics.median(values) if values else None


def _ratio(runs: list[dict], numerator: str, denominator: str) -> float | None:
    top, bottom = _median(runs, numerator, "wall"), _median(runs, denominator, "wall")
    return None if top is None or bottom is None else top / bottom


def _why_missing(runs: list[dict], *names: str) -> str:
    """Why a figure of ``names`` is missing: the first failure or skip."""
    for run in runs:
        for name in names:
            scenario = run.get(name)
            if scenario is None:
                return f"{name} not measured"
            if "failed" in scenario:
                return f"{name} FAILED after {scenario['wall']:.0f} s: {scenario['failed'][:140]}"
            if "skipped" in scenario:
                return f"{name} skipped: {scenario['skipped']}"
    return "not measured"


def _stages(run: dict) -> str:
    stages = run.get("stages", {})

    def s(key: str) -> str:
        value = stages.get(key)
        return "?" if value is None else f"{value:.0f}"

    first, _, last = run["days"].partition("..")
    days = (date.fromisoformat(last or first) - date.fromisoformat(first)).days + 1
    per_day = "" if stages.get("compaction") is None else f", {stages['compaction'] / days:.1f} s/day"
    parts = [f"before run {s('before run')} s",
             f"compaction {s('compaction')} s ({days} days{per_day}; Spark start-up {s('compaction spark start-up')})",
             f"rollup {s('rollup')} s (start-up {s('rollup spark start-up')})",
             (f"warehouse {s('warehouse')} s (copy + dbt start {s('warehouse copy + dbt start')}, "
              f"dbt build {s('warehouse dbt build')}, publish {s('warehouse publish')})"),
             f"after run {s('after run')} s"]
    checks = ", ".join(f"{key.removeprefix('quality ').replace('__', '/')} {value:.0f}"
                       for key, value in stages.items() if key.startswith("quality ") and value is not None)
    parts.append(f"quality checks {s('quality')} s ({checks})")
    return " | ".join(parts)


def _peaks(run: dict) -> str:
    """Each kind's share of the peak sample, and when it was."""
    shares = ", ".join(f"{kind} {gb:.2f}" for kind, gb in sorted(run["at_peak_gb_by_kind"].items()))
    return f"at {run['peak_at_seconds']:.0f} s: {shares}"


def print_size(events: int, runs: list[dict]) -> list[str]:
    """Print one size's figures; the counts on which the warehouse and the reference disagree."""
    info = runs[0]["info"]
    days = [info["days"].get(day.isoformat(), {"events": 0, "bytes": 0}) for day in TRAFFIC.counted_days]
    lines, size = sum(d["events"] for d in days), sum(d["bytes"] for d in days)
    print(f"\n  {events:,} events target: days 1..{DAYS} {lines:,} lines ({size / 1e9:.2f} GB NDJSON), "
          f"day {DAYS} {days[-1]['events']:,} lines; {info['users']:,} users; medians of {len(runs)}")
    last = runs[-1]
    for name, label in (("full", f"full history (days 1..{DAYS})"), ("history", f"history (days 1..{DAYS - 1})"),
                        ("incremental", f"incremental day {DAYS} on {DAYS - 1} days"),
                        ("alone", f"day {DAYS} alone")):
        run = last.get(name)
        if run is None or "wall" not in run:
            print(f"    {label:<34} {_why_missing([last], name)}")
            continue
        wall = _median(runs, name, "wall")
        shown = f"wall {wall:>8.1f} s" if wall is not None else f"FAILED after {run['wall']:.1f} s"
        print(f"    {label:<34} {shown}   peak {run['peak_gb']:.2f} GB "
              f"({_peaks(run)}; load {run['load'][0]} -> {run['load'][1]})")
        if "failed" in run:
            print(f"      FAILED: {run['failed']} (log {run['log']})")
        print(f"      stages: {_stages(run)}")
        if "dbt" in run:
            dbt = run["dbt"]
            slowest = ", ".join(f"{model} {seconds:.0f}" for model, seconds in dbt["slowest_models"].items())
            print(f"      dbt node seconds (2 threads overlap): models {dbt['models_seconds']:.0f}, "
                  f"tests {dbt['tests_seconds']:.0f}; slowest: {slowest}")
        for app, spark in run.get("spark", {}).items():
            sites = ", ".join(f"{site} {seconds:.0f}" for site, seconds in spark["top_call_sites"].items())
            print(f"      Spark {app}: {spark['wall'] or 0:.0f} s, {spark['in_executions']:.0f} s in "
                  f"{spark['executions']} SQL executions, {spark['outside_executions'] or 0:.0f} s outside them; "
                  f"by line: {sites}")
    reference = last["reference"]
    print(f"    {'reference (DuckDB + pandas)':<34} wall {_median(runs, 'reference', 'wall'):>8.1f} s   "
          f"peak {_median(runs, 'reference', 'peak_gb'):.2f} GB")
    print("      steps: " + " | ".join(f"{name} {seconds:.0f} s"
                                           for name, seconds in reference["statement_seconds"].items()))
    sizes = last["full"].get("sizes", {})
    if sizes:
        print(f"    full run's data: bronze {sizes['bronze'] / 1e9:.2f} GB, gold {sizes['gold'] / 1e6:.1f} MB, "
              f"warehouse {sizes['warehouse'] / 1e9:.2f} GB; reference file {reference['bytes'] / 1e9:.2f} GB")
    for label, ratio, goal, why in (
            ("full pipeline / reference wall", _ratio(runs, "full", "reference"), GOAL_FULL_RATIO,
             lambda: _why_missing(runs, "full")),
            ("incremental / alone wall", _ratio(runs, "incremental", "alone"), GOAL_INCREMENTAL_RATIO,
             lambda: _why_missing(runs, "incremental", "alone"))):
        print(f"    {label:<40} " + (f"{ratio:>8.2f}   (goal <= {goal:g})" if ratio is not None else why()))
    peaks = " / ".join("-" if name not in last or "peak_gb" not in last[name]
                       else f"{last[name]['peak_gb']:.2f}{' (failed)' if 'failed' in last[name] else ''}"
                       for name in SCENARIOS)
    print(f"    peak memory full / history / incremental / alone   {peaks} GB")
    for name in ("full", "incremental"):
        cost = _quality_cost(runs, name)
        print(f"    {f'quality checks / rest of the {name} chain':<40} "
              + (f"{cost:>8.2f}   (goal <= {GOAL_QUALITY_COST:g})" if cost is not None else _why_missing(runs, name)))
    different = print_sanity(last)
    print_metric_queries(last["metrics"])
    return different


def _quality_cost(runs: list[dict], name: str) -> float | None:
    """The median over repeats of what the quality checks add to the chain: their seconds / the others'."""
    costs = [run[name]["stages"]["quality"] / (run[name]["wall"] - run[name]["stages"]["quality"])
             for run in _succeeded(runs, name) if run[name].get("stages", {}).get("quality")]
    return statistics.median(costs) if costs else None


def print_sanity(run: dict) -> list[str]:
    """Print the warehouse's counts next to the reference's; the names of those that differ (or cannot be
    compared)."""
    sources = [(label, run[name]["counts"]) for label, name in (
        ("warehouse of the full run", "full"), ("reference", "reference"),
        ("warehouse built incrementally", "incremental")) if "counts" in run.get(name, {})]
    if len(sources) < 2:
        print(f"    sanity: nothing to compare (only {', '.join(label for label, _ in sources) or 'nothing'} counted)")
        return ["nothing to compare"]
    print(f"    sanity ({' / '.join(label for label, _ in sources)}):")
    counts = [c for _, c in sources]
    different = []

    def compare(name: str, values: list, shown: str) -> None:
        equal = all(value == values[0] for value in values)
        print(f"      {name:<26} {shown}   {'equal' if equal else 'MISMATCH'}")
        if not equal:
            different.append(name)

    for key in ("events", "sessions", "identity_links"):
        values = [c[key] for c in counts]
        compare(key, values, " / ".join(f"{v:>12,}" for v in values))
    for name in sorted({name for c in counts for name in c["funnels"]}):
        values = [c["funnels"].get(name) for c in counts]
        compare(f"funnel {name}", values, " / ".join(str(v) for v in values))
    for grain in sorted({grain for c in counts for grain in c["retention"]}):
        values = [c["retention"].get(grain) for c in counts]
        compare(f"retention {grain}", values, " / ".join(
            "-" if v is None else f"{v['cohorts']} cohorts, {v['cohort_users']:,} users, "
            f"{v['retained_users']:,} user-periods" for v in values))
    return different


def print_metric_queries(timed: dict) -> None:
    if "skipped" in timed:
        print(f"    metric queries: SKIPPED: {timed['skipped']}")
        return
    print("    metric queries on the full warehouse (ms; first call, then median / p95 of the repetitions):")
    for name, t in timed["queries"].items():
        print(f"      {name:<40} first {t['first_ms']:>8.1f}   median {t['median_ms']:>7.1f}   "
              f"p95 {t['p95_ms']:>7.1f}   (n={t['repetitions']})")


def print_goals(results: dict[int, list[dict]]) -> None:
    print()
    if not results:
        return
    size = GOAL_SIZE if GOAL_SIZE in results else max(results)
    runs = results[size]
    full_ratio, incremental_ratio = _ratio(runs, "full", "reference"), _ratio(runs, "incremental", "alone")
    measured_peaks = [run[name]["peak_gb"] for run in runs for name in SCENARIOS
                      if "peak_gb" in run.get(name, {})]
    any_failed = any("failed" in run.get(name, {}) or "skipped" in run.get(name, {})
                     for run in runs for name in SCENARIOS)
    incremental_peak, alone_peak = _median(runs, "incremental", "peak_gb"), _median(runs, "alone", "peak_gb")
    growth = None if incremental_peak is None or alone_peak is None else incremental_peak / alone_peak
    timed = runs[-1]["metrics"]
    p95 = None if "skipped" in timed else max(t["p95_ms"] for t in timed["queries"].values())
    if size == GOAL_SIZE:
        print(f"  goals at {size:,} events:")
    else:
        print(f"  goals: NOT MEASURED at {GOAL_SIZE:,} events (run --events {GOAL_SIZE}); "
              f"the same checks at {size:,}, indicative only:")

    def row(goal: str, value: float | None, met: bool, missing: str) -> None:
        verdict = "met" if met else "NOT met"
        if value is None:
            verdict = f"NOT met ({missing})" if "FAILED" in missing else f"NOT MEASURED ({missing})"
        print(f"  goal {goal:<72} {verdict}")

    row(f"full pipeline within {GOAL_FULL_RATIO:g}x of the reference (ratio "
        f"{'-' if full_ratio is None else f'{full_ratio:.2f}'})", full_ratio,
        full_ratio is not None and full_ratio <= GOAL_FULL_RATIO, _why_missing(runs, "full"))
    row(f"incremental day <= {GOAL_INCREMENTAL_RATIO:g}x the day alone (ratio "
        f"{'-' if incremental_ratio is None else f'{incremental_ratio:.2f}'})", incremental_ratio,
        incremental_ratio is not None and incremental_ratio <= GOAL_INCREMENTAL_RATIO,
        _why_missing(runs, "incremental", "alone"))
    row(f"p95 of typical metric queries < {GOAL_P95_MS:g} ms (worst p95 {'-' if p95 is None else f'{p95:.1f} ms'})",
        p95, p95 is not None and p95 < GOAL_P95_MS, timed.get("skipped", ""))
    quality_cost = _quality_cost(runs, "full")
    row(f"quality checks add <= {GOAL_QUALITY_COST:.0%} to the full chain (added "
        f"{'-' if quality_cost is None else f'{quality_cost:.1%}'})", quality_cost,
        quality_cost is not None and quality_cost <= GOAL_QUALITY_COST, _why_missing(runs, "full"))
    peak = max(measured_peaks) if measured_peaks else None
    row(f"peak memory <= {GOAL_PEAK_GB:g} GB (peak {'-' if peak is None else f'{peak:.2f} GB'}"
        f"{', a run failed: at least' if any_failed else ''})", peak,
        peak is not None and peak <= GOAL_PEAK_GB, "no run measured")
    row(f"peak memory not growing with history (incremental / alone {'-' if growth is None else f'{growth:.2f}'})",
        growth, growth is not None and growth <= GOAL_PEAK_GROWTH, _why_missing(runs, "incremental", "alone"))


if __name__ == "__main__":
    sys.exit(main())
