"""Compact arrival days of the landing zone into bronze Parquet.

    python -m spark_jobs.compact --received-date YYYY-MM-DD [--received-date …] [--report report.json]

Reads the sealed landing files of ``received_date=R`` with an explicit schema, keeps one row per
``messageId`` (the earliest ``receivedAt``, and none when one of the previous ``ANALYTICS_DEDUP_WINDOW_DAYS``
arrival days received it: ``resolve_copies``), corrects event time for clock skew, enriches (event
names, URL and UTM, referrer class, user agent, bots, country) on distinct values, applies the source's PII
policy, and replaces ``bronze/events/event_date=*/received_date=R/`` folder by folder (written to
``_staging/`` first, then renamed). Lines it cannot accept go to ``quarantine/lake/received_date=R/``.
Re-running a day gives the same rows in the same files.

Several days are compacted in one pass (one read of all their landing files, one write), with exactly the
rows that compacting them one by one gives, in any order: a messageId that arrived on two days is kept on
the earlier one only, unless the days are more than the dedup window apart.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import BooleanType, StringType, StructField, StructType

from analytics_settings import Settings, load_settings
from lake import BRONZE_EVENTS, LANDING, MESSAGE_IDS, compaction_record, landing_name
from spark_jobs import enrich
from spark_jobs.job_cli import add_report_option, emit_report, utc_day
from spark_jobs.lake_fs import LakeFileSystem
from spark_jobs.schema import LANDING_SCHEMA, PROPERTIES_SCHEMA
from spark_jobs.session import run_job
from warehouse.lock import warehouse_lock

MAX_CLOCK_AHEAD = "INTERVAL 23 HOURS"  # DESIGN: no event time more than 23 h after receivedAt
SHUFFLE_PARTITION_BYTES = 128 * 1024 * 1024
QUARANTINE_REASONS = {
    "unparseable_line": "the line is not a stored event (invalid JSON or no messageId)",
    "unparseable_timestamp": "receivedAt, timestamp, originalTimestamp or sentAt is not an ISO 8601 time",
    "too_late": "the event is older than ANALYTICS_MAX_LATENESS_DAYS before its arrival",
}


@dataclass
class CompactionReport:
    received_date: str
    landing_files: int = 0
    rows_in: int = 0
    rows_out: int = 0
    duplicates_within_day: int = 0
    duplicates_across_days: int = 0
    late_events: int = 0
    clamped_events: int = 0
    offline_queued_events: int = 0
    bot_events: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    bytes_written: int = 0
    event_dates: list[str] = field(default_factory=list)
    bronze_paths: list[str] = field(default_factory=list)
    # event days whose bronze of a later arrival day lost a copy this run's days received first (out of order)
    later_event_dates: list[str] = field(default_factory=list)
    quarantine_path: str | None = None
    spark_startup_seconds: float = 0.0
    seconds: float = 0.0

    @classmethod
    def combine(cls, reports: list[CompactionReport]) -> CompactionReport:
        """One report for several arrival days: counts added up, days and paths listed once."""
        if len(reports) == 1:
            return reports[0]
        combined = cls(f"{reports[0].received_date}..{reports[-1].received_date}")
        for report in reports:
            for name in ("landing_files", "rows_in", "rows_out", "duplicates_within_day", "duplicates_across_days",
                         "late_events", "clamped_events", "offline_queued_events", "bot_events", "bytes_written"):
                setattr(combined, name, getattr(combined, name) + getattr(report, name))
            for reason, count in report.quarantined.items():
                combined.quarantined[reason] = combined.quarantined.get(reason, 0) + count
            combined.bronze_paths += report.bronze_paths
        combined.event_dates = sorted({day for report in reports for day in report.event_dates})
        combined.later_event_dates = sorted({day for report in reports for day in report.later_event_dates})
        quarantines = [report.quarantine_path for report in reports if report.quarantine_path]
        combined.quarantine_path = quarantines[0].rsplit("/received_date=", 1)[0] if quarantines else None
        return combined


def _time(column: Column) -> Column:
    return column.try_cast("timestamp")


def _millis_between(later: Column, earlier: Column) -> Column:
    return F.unix_millis(later) - F.unix_millis(earlier)


def read_landing(spark: SparkSession, files: dict[str, list[str]]) -> DataFrame:
    """The landing lines of each arrival day (day → its files), each parsed with the explicit schema into one
    struct ``e`` (null when the line is not a JSON object), with the file it came from and its arrival day (from
    the file's ``received_date=`` folder).

    One scan per day: Spark packs the files of one scan into splits by size, so a scan of every day would
    mix the days in each split, and each split would write a file into every day's bronze folder. The scans
    are identical but for their files (the day comes from the path), so Spark generates and compiles their code
    once.
    """
    lines = functools.reduce(DataFrame.unionByName, [spark.read.text(day_files) for day_files in files.values()])
    source_file = F.input_file_name()
    return lines.select(F.from_json("value", LANDING_SCHEMA).alias("e"), F.col("value").alias("raw_line"),
                        source_file.alias("source_file"),
                        F.regexp_extract(source_file, r"/received_date=(\d{4}-\d{2}-\d{2})/", 1).cast("date")
                        .alias("received_date"))


def parse_lines(parsed: DataFrame, settings: Settings) -> DataFrame:
    """Flat typed rows with a ``problem`` (a quarantine reason, or null); only problem rows keep their line.

    Keeping the line and file name only where they will be quarantined keeps the cached day narrow.
    """
    e = F.col("e")
    received_at, device_time = _time(e.receivedAt), _time(F.coalesce(e.originalTimestamp, e.timestamp))
    sent_at = _time(e.sentAt)
    # Segment's rule, timestamp = receivedAt − (sentAt − originalTimestamp), bounded to receivedAt + 23 h
    queued_ms = _millis_between(sent_at, device_time)
    corrected = F.when(sent_at.isNotNull() & device_time.isNotNull(),
                       F.timestamp_millis(F.unix_millis(received_at) - queued_ms)
                       ).otherwise(F.coalesce(device_time, received_at))
    is_clamped = F.coalesce(corrected > received_at + F.expr(MAX_CLOCK_AHEAD), F.lit(False))
    event_time = F.when(is_clamped, received_at).otherwise(corrected)
    unparseable_time = (received_at.isNull()
                        | (e.timestamp.isNotNull() & _time(e.timestamp).isNull())
                        | (e.originalTimestamp.isNotNull() & _time(e.originalTimestamp).isNull())
                        | (e.sentAt.isNotNull() & sent_at.isNull()))
    too_late = event_time < received_at - F.expr(f"INTERVAL {settings.max_lateness_days} DAYS")
    problem = (F.when(e.isNull() | e.messageId.isNull(), "unparseable_line")
               .when(unparseable_time, "unparseable_timestamp")
               .when(too_late, "too_late"))
    context, page, campaign = e.context, e.context.page, e.context.campaign
    typed = parsed.select(
        problem.alias("problem"), "received_date",
        F.when(problem.isNotNull(), F.col("raw_line")).alias("line"),
        F.when(problem.isNotNull(), F.col("source_file")).alias("source_file"),
        e.messageId.alias("message_id"), e["type"].alias("type"), e.event.alias("event"),
        e["name"].alias("page_name"), e.userId.alias("raw_user_id"), e.anonymousId.alias("anonymous_id"),
        e.groupId.alias("group_id"), e.previousId.alias("raw_previous_id"), e.sourceId.alias("source_id"),
        e.properties.alias("properties"), F.coalesce(e.traits, context.traits).alias("raw_traits"),
        received_at.alias("received_at"), device_time.alias("device_time"), sent_at.alias("sent_at"),
        event_time.alias("event_time"), is_clamped.alias("is_clamped"),
        F.coalesce(queued_ms > settings.offline_queue_flag_seconds * 1000, F.lit(False)).alias("is_offline_queued"),
        _millis_between(sent_at, received_at).alias("clock_skew_ms"),
        context.ip.alias("raw_ip"), context.userAgent.alias("user_agent"), context.locale.alias("locale"),
        context.timezone.alias("timezone"), context.sessionId.alias("session_id"),
        F.coalesce(context.bot, F.lit(False)).alias("flagged_bot"),
        page.url.alias("page_url"), page.path.alias("page_path"), page.search.alias("page_search"),
        page.title.alias("page_title"), page.referrer.alias("page_referrer"),
        *(campaign[field].alias(f"campaign_{field}") for field in ("source", "medium", "name", "term", "content")),
        context.library["name"].alias("library_name"), context.library.version.alias("library_version"),
    )
    return with_traffic_columns(typed.withColumn("event_date", F.to_date("event_time"))
                                .withColumn("is_late", F.col("event_date") < F.col("received_date")))


def with_traffic_columns(rows: DataFrame) -> DataFrame:
    """Page host, referrer host, campaign (context.campaign wins over the URL's utm_*) and click id."""
    # the query string is split once into a map; parse_url per parameter would parse the URL ten times
    query = F.str_to_map(F.coalesce(F.try_parse_url(F.col("page_url"), F.lit("QUERY")), F.lit("")),
                         F.lit("&"), F.lit("="))

    def query_parameter(name: str) -> Column:
        return F.try_element_at(query, F.lit(name))

    def host(url: str) -> Column:
        return F.lower(F.regexp_replace(F.try_parse_url(F.col(url), F.lit("HOST")), r"^www\.", ""))

    return rows.select(
        "*",
        host("page_url").alias("page_host"),
        host("page_referrer").alias("referrer_host"),
        F.coalesce(F.trim("page_referrer") != "", F.lit(False)).alias("has_referrer"),
        *(F.coalesce(f"campaign_{field}", query_parameter(f"utm_{parameter}")).alias(f"utm_{parameter}")
          for field, parameter in (("source", "source"), ("medium", "medium"), ("name", "campaign"),
                                   ("term", "term"), ("content", "content"))),
        F.coalesce(*(F.when(query_parameter(p).isNotNull(), F.lit(p)) for p in enrich.CLICK_ID_PARAMS)
                   ).alias("click_id"),
    )


def repeated_message_ids(valid: DataFrame, earlier: DataFrame | None) -> DataFrame:
    """The messageIds that need a decision: seen more than once in the days compacted, or also received by an
    earlier arrival day within the dedup window. Few and narrow: they are broadcast to the wide rows,
    which never move."""
    seen = valid.select("message_id", F.lit(True).alias("in_range"))
    if earlier is not None:
        seen = seen.unionByName(earlier.select("message_id", F.lit(False).alias("in_range")))
    return (seen.groupBy("message_id").agg(F.count("*").alias("seen"), F.max("in_range").alias("in_range"))
            .where((F.col("seen") > 1) & F.col("in_range")).select("message_id"))


def resolve_copies(copies: DataFrame, earlier: DataFrame | None, window_days: int) -> DataFrame:
    """The rows of repeated messageIds with a ``status``: ``duplicate`` for every copy of a day but its earliest,
    ``earlier`` for a day's earliest copy of an id that an arrival day in the ``window_days`` before it received
    (kept there or not), else ``ok``. ``earlier`` is what the days before this run received, restricted to
    these ids.

    The rule reads only what each day received, never what another compaction decided, so the bronze does not
    depend on the order the days are compacted in: compacting R before R−1 keeps R's copy until R−1 is
    compacted, which then drops it from R (``_later_copies``).
    """
    earliest_first = Window.partitionBy("message_id", "received_date").orderBy(
        F.col("received_at"), F.col("raw_user_id"), F.col("anonymous_id"), F.col("properties"), F.col("raw_traits"))
    ranked = copies.withColumn("copy", F.row_number().over(earliest_first))
    firsts = ranked.where(F.col("copy") == 1).select("message_id", "received_date")
    received = firsts if earlier is None else firsts.unionByName(earlier.select("message_id", "received_date"))
    hidden = (firsts.join(received.withColumnRenamed("received_date", "seen_on"), "message_id")
              .where(F.datediff("received_date", "seen_on").between(1, window_days))
              .select("message_id", "received_date").distinct().withColumn("hidden", F.lit(True)))
    return ranked.join(hidden, ["message_id", "received_date"], "left").select(
        *copies.columns,
        F.when(F.col("copy") > 1, "duplicate").when(F.col("hidden"), "earlier").otherwise("ok").alias("status"))


# One table for every kind of distinct value: the key (``value``, and for a referrer the other columns of its
# class's inputs), then what the enrichment makes of it.
_FLAGS = {"has_referrer", "ua_is_bot"}
DISTINCT_VALUES_SCHEMA = StructType([
    StructField(name, BooleanType() if name in _FLAGS else StringType()) for name in (
        "kind", "value", "has_referrer", "page_host", "utm_medium", "click_id", "browser", "browser_version", "os",
        "os_version", "device_type", "ua_is_bot", "country", "truncated_ip", "referrer_class", "normalized_event")])
# Above this many distinct values of a kind, its table is joined by a shuffle rather than broadcast: a broadcast
# is gathered on the driver and copied whole to every executor (~50 B a row).
MAX_BROADCAST_LOOKUP_ROWS = 500_000


def parse_distinct_values(bot_patterns: tuple[str, ...], batches: Iterator[pa.RecordBatch]
                          ) -> Iterator[pa.RecordBatch]:
    """The enrichment of distinct values, batch by batch on an executor (``mapInArrow``): each row keeps its key
    and gains the columns of its kind."""
    schema = pa.schema([(f.name, pa.bool_() if f.name in _FLAGS else pa.string()) for f in DISTINCT_VALUES_SCHEMA])
    for batch in batches:
        rows = batch.to_pylist()
        for row in rows:
            kind, value = row["kind"], row["value"]
            if kind == "user_agent":
                agent = enrich.parse_user_agent(value, bot_patterns)
                row.update(browser=agent.browser, browser_version=agent.browser_version, os=agent.os,
                           os_version=agent.os_version, device_type=agent.device_type, ua_is_bot=agent.is_bot)
            elif kind == "ip":
                row.update(country=enrich.country_for_ip(value), truncated_ip=enrich.truncate_ip(value))
            elif kind == "referrer":
                row["referrer_class"] = enrich.classify_referrer_host(
                    value, row["has_referrer"], row["page_host"], row["utm_medium"], row["click_id"])
            elif kind == "event":
                row["normalized_event"] = enrich.normalize_event_name(value)
        yield pa.RecordBatch.from_pylist(rows, schema=schema)


@dataclass
class Lookups:
    """The enrichment tables of the distinct values, computed by the executors; the small ones broadcast."""

    user_agents: DataFrame
    ips: DataFrame
    referrers: DataFrame
    event_names: DataFrame
    sources: set[str]
    table: DataFrame  # the cached table of every kind they read; unpersist it when the run is done


def build_lookups(rows: DataFrame, settings: Settings) -> Lookups:
    """The tables for the distinct values of ``rows`` (every valid line of the run, duplicates included: an
    entry no kept row uses changes nothing, and one pass over the lines beats one per day).

    One pass collects every kind of distinct value, the executors parse them in Arrow batches (a Python worker
    each), and the table is cached so the joins are planned on its real size: a day with millions of distinct
    user agents or IPs never funnels through the driver.
    """
    patterns = tuple(settings.bot_user_agent_patterns)
    enrich.bot_regex(patterns)  # an invalid pattern fails here, with its message, not in a task

    def key(kind: str, value: str, *referrer: Column) -> Column:
        others = referrer or (F.lit(None).cast("boolean"), *(F.lit(None).cast("string"),) * 3)
        return F.struct(F.lit(kind).alias("kind"), F.col(value).alias("value"),
                        *(column.alias(name) for column, name in zip(
                            others, ("has_referrer", "page_host", "utm_medium", "click_id"))))

    keys = rows.select(F.inline(F.array(
        key("user_agent", "user_agent"), key("ip", "raw_ip"), key("event", "event"), key("source", "source_id"),
        key("referrer", "referrer_host", *(F.col(c) for c in ("has_referrer", "page_host", "utm_medium", "click_id"))))))
    parsed = (keys.where((F.col("kind") == "referrer") | F.col("value").isNotNull()).distinct()
              .mapInArrow(functools.partial(parse_distinct_values, patterns), DISTINCT_VALUES_SCHEMA)
              .persist(StorageLevel.MEMORY_AND_DISK))
    counts = dict(parsed.groupBy("kind").count().collect())  # fills the cache
    of_kind = {kind: parsed.where(F.col("kind") == kind) for kind in ("user_agent", "ip", "referrer", "event")}

    def lookup(kind: str, *columns: Column | str) -> DataFrame:
        table = of_kind[kind].select(*columns)
        return F.broadcast(table) if counts.get(kind, 0) <= MAX_BROADCAST_LOOKUP_ROWS else table

    value = F.col("value")
    return Lookups(
        user_agents=lookup("user_agent", value.alias("lookup_user_agent"), "browser", "browser_version", "os",
                           "os_version", "device_type", "ua_is_bot"),
        ips=lookup("ip", value.alias("lookup_ip"), "country", "truncated_ip"),
        referrers=lookup("referrer", value.alias("r_host"), F.col("has_referrer").alias("r_present"),
                         F.col("page_host").alias("p_host"), F.col("utm_medium").alias("r_medium"),
                         F.col("click_id").alias("r_click"), "referrer_class"),
        event_names=lookup("event", value.alias("lookup_event"), "normalized_event"),
        sources={row.value for row in parsed.where(F.col("kind") == "source").select("value").collect()},
        table=parsed,
    )


BRONZE_COLUMNS = (
    "message_id", "type", "event_name", "event_original", "page_name", "user_id", "anonymous_id", "group_id",
    "previous_id", "source_id", "event_time", "event_date", "received_at", "device_time", "sent_at",
    "clock_skew_ms", "is_clamped", "is_offline_queued", "is_late", "session_id", "properties", "traits",
    "revenue", "currency", "page_url", "page_host", "page_path", "page_search", "page_title", "page_referrer",
    "referrer_host", "referrer_class", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
    "user_agent", "browser", "browser_version", "os", "os_version", "device_type", "is_bot", "ip", "country",
    "locale", "timezone", "library_name", "library_version",
)


def enrich_rows(rows: DataFrame, lookups: Lookups, settings: Settings) -> DataFrame:
    """The bronze columns of accepted rows, joined with the broadcast enrichment tables, and their arrival day."""
    joined = (rows
              .join(lookups.user_agents, F.col("user_agent") == F.col("lookup_user_agent"), "left")
              .join(lookups.ips, F.col("raw_ip") == F.col("lookup_ip"), "left")
              .join(lookups.event_names, F.col("event") == F.col("lookup_event"), "left")
              .join(lookups.referrers, F.col("referrer_host").eqNullSafe(F.col("r_host"))
                    & (F.col("has_referrer") == F.col("r_present"))
                    & F.col("page_host").eqNullSafe(F.col("p_host"))
                    & F.col("utm_medium").eqNullSafe(F.col("r_medium"))
                    & F.col("click_id").eqNullSafe(F.col("r_click")), "left"))
    money = F.from_json("properties", PROPERTIES_SCHEMA)
    return _apply_pii(joined, lookups.sources, settings).select(
        # a track's normalized name; other calls are named by their type ("page", "identify", …)
        F.when(F.col("type") == "track", F.col("normalized_event")).otherwise(F.col("type")).alias("event_name"),
        F.col("event").alias("event_original"),
        money.revenue.try_cast("double").alias("revenue"), money.currency.alias("currency"),
        F.coalesce("referrer_class", F.lit("direct")).alias("referrer_class"),
        F.coalesce("device_type", F.lit("other")).alias("device_type"),
        (F.coalesce("ua_is_bot", F.lit(False)) | F.col("flagged_bot")).alias("is_bot"),
        *(name for name in BRONZE_COLUMNS if name not in {
            "event_name", "event_original", "revenue", "currency", "referrer_class", "device_type", "is_bot"}),
        "received_date",
    ).select(*BRONZE_COLUMNS, "received_date")


SALT_COLUMN = "pii_salt_key"


def _salted(column: Column) -> Column:
    """The same keyed hash as ``enrich.salted_hash`` (hex HMAC-SHA256 keyed with the salt), natively; the key
    is the column :func:`_with_salt` joins in."""
    return F.lower(F.hex(F.hmac(F.col(SALT_COLUMN), column.cast("binary"))))


def _with_salt(rows: DataFrame, settings: Settings) -> DataFrame:
    """``rows`` with the salt as a binary column, from a one-row table broadcast to the tasks.

    Not a literal: a literal is printed in every plan (``explain``, the SQL tab, Spark's event log) and in
    error messages that quote an expression; a table's rows never are.
    """
    salt = pa.table({SALT_COLUMN: pa.array([settings.pii_salt.get_secret_value().encode()], type=pa.binary())})
    return rows.crossJoin(F.broadcast(rows.sparkSession.createDataFrame(salt, f"{SALT_COLUMN} binary")))


def _apply_pii(rows: DataFrame, sources: set[str], settings: Settings) -> DataFrame:
    """The source's PII policy, before anything reaches bronze (default: truncated IP, identifiers kept)."""
    source = F.col("source_id")
    policies = {s: settings.pii_policy_for(s) for s in sources}
    keep_ip = [s for s, p in policies.items() if p.ip == "keep"]
    drop_ip = [s for s, p in policies.items() if p.ip == "drop"]
    hashed = [s for s, p in policies.items() if p.hash_identifiers]
    ip = (F.when(source.isin(keep_ip), F.col("raw_ip")).when(source.isin(drop_ip), F.lit(None))
          .otherwise(F.col("truncated_ip")))
    identifiers = [F.col("raw_user_id").alias("user_id"), F.col("raw_previous_id").alias("previous_id"),
                   F.col("raw_traits").alias("traits")]
    if not hashed:
        return rows.select("*", ip.alias("ip"), *identifiers)
    is_hashed = source.isin(hashed)
    traits = F.col("raw_traits")
    email = F.get_json_object(traits, "$.email")
    hashed_traits = F.when(email.isNull(), traits).otherwise(F.regexp_replace(
        traits, r'"email"\s*:\s*"(?:[^"\\]|\\.)*"', F.concat(F.lit('"email":"'), _salted(email), F.lit('"'))))
    return _with_salt(rows, settings).select(
        *rows.columns, ip.alias("ip"),
        F.when(is_hashed, _salted(F.col("raw_user_id"))).otherwise(F.col("raw_user_id")).alias("user_id"),
        F.when(is_hashed, _salted(F.col("raw_previous_id"))).otherwise(F.col("raw_previous_id")).alias("previous_id"),
        F.when(is_hashed, hashed_traits).otherwise(traits).alias("traits"),
    )


def compact(received_dates: list[str], settings: Settings | None = None) -> CompactionReport:
    """Compact the arrival days on one session, as compacting them one by one would."""
    settings = settings or load_settings()
    days = sorted(set(received_dates))
    return run_job(settings, f"compact {days[0]}" + (f"..{days[-1]}" if len(days) > 1 else ""),
                   lambda spark: CompactionReport.combine(compact_arrival_days(spark, days, settings)))


def compact_arrival_day(spark: SparkSession, received_date: str, settings: Settings) -> CompactionReport:
    """The compaction of arrival day ``received_date`` on an existing session (the tests share one)."""
    return compact_arrival_days(spark, [received_date], settings)[0]


def compact_arrival_days(spark: SparkSession, received_dates: list[str], settings: Settings) -> list[CompactionReport]:
    """The compaction of arrival days ``received_dates`` in one pass on an existing session: one report per day,
    in date order, each as compacting the days one by one gives it (in any order).

    One read of every landing file, one dedup, one enrichment and one write for all the days; only the
    commit (a rename per folder) and the report are per day. Each day's rows are deduplicated against what its
    ``dedup_window_days`` previous arrival days received (this run's and the others' records), and the bronze
    of the later days not in the run loses what this run's days received in the window before them.
    """
    days = sorted({date.fromisoformat(day).isoformat() for day in received_dates})  # a clear error first
    lake = LakeFileSystem(spark, settings.lake_root)
    lake.delete_crashed_staging("compact", days)
    reports = {day: CompactionReport(day) for day in days}
    bronze_root = lake.uri(*BRONZE_EVENTS)
    interrupted = [f"{bronze_root}/{folder}" for folder in lake.list_dirs(bronze_root)
                   if lake.interrupted_replacements(f"{bronze_root}/{folder}")]
    if interrupted:  # a crash mid-commit; finishing it changes what readers see, so under the lock
        with warehouse_lock(settings, "repair interrupted bronze replacements"):
            for parent in interrupted:
                lake.repair_replacements(parent)
    landing = {day: lake.glob_files(lake.uri(LANDING, f"received_date={day}", "hour=*", "*.ndjson")) for day in days}
    for day, report in reports.items():
        report.landing_files = len(landing[day])
    landed = [day for day in days if landing[day]]
    if not landed:  # nothing arrived: the days have no bronze (the commit below does this for a range)
        _commit(lake, settings, reports, landing, {}, None, {})
        return list(reports.values())

    # shuffle partitions sized to the days (~128 MB each), so a big range never makes huge tasks
    landing_bytes = sum(size for day in landed for _, size in landing[day])
    spark.conf.set("spark.sql.shuffle.partitions",
                   str(max(settings.spark_shuffle_partitions, math.ceil(landing_bytes / SHUFFLE_PARTITION_BYTES))))
    # Every step below reads the parsed lines again (parsing the JSON is what costs): kept on local disk
    # (~200 B an event, see session.py). Not in memory: the cached blocks of a month at 10M events filled a 2g
    # heap and the task building the next block ran out of memory (MEMORY_AND_DISK); the page cache keeps
    # them in RAM outside the heap anyway.
    parsed = parse_lines(read_landing(spark, {day: [path for path, _ in landing[day]] for day in landed}), settings
                         ).persist(StorageLevel.DISK_ONLY)
    valid = parsed.where(F.col("problem").isNull())
    earlier = _received_before(spark, lake, days, landed, settings.dedup_window_days)
    repeated_ids = repeated_message_ids(valid, earlier).persist(StorageLevel.MEMORY_AND_DISK)
    repeated = F.broadcast(repeated_ids)
    copies = resolve_copies(valid.join(repeated, "message_id", "left_semi"),
                            None if earlier is None else earlier.join(repeated, "message_id", "left_semi"),
                            settings.dedup_window_days).persist(StorageLevel.MEMORY_AND_DISK)
    caches = [copies, repeated_ids, parsed]
    staging = lake.staging("compact", days)
    try:
        _count_lines(parsed, copies, reports)
        quarantined = _write_quarantine(lake, parsed, f"{staging}/quarantine")
        for day in landed:
            reports[day].quarantine_path = lake.uri("quarantine", "lake", f"received_date={day}")
            staged = quarantined.get(day) or lake.make_folder(f"{staging}/quarantine/empty-{day}")
            lake.replace_folder(staged, reports[day].quarantine_path)

        lookups = build_lookups(valid, settings)
        caches.append(lookups.table)
        accepted = valid.join(repeated, "message_id", "left_anti").unionByName(
            copies.where(F.col("status") == "ok").drop("status").coalesce(1))  # the few kept copies: one file
        written = _write_bronze(lake, enrich_rows(accepted, lookups, settings), f"{staging}/bronze")
        _count_written(spark, f"{staging}/bronze", written, reports)
        (valid.select("message_id", "received_date").distinct().repartition("received_date")
         .sortWithinPartitions("message_id").write.partitionBy("received_date").parquet(f"{staging}/message_ids"))
        later = _without_later_copies(spark, lake, valid, days, settings.dedup_window_days, f"{staging}/later")
        _commit(lake, settings, reports, landing, written, f"{staging}/message_ids", later)
        lake.delete(staging)
    finally:
        for frame in caches:
            frame.unpersist()
    return list(reports.values())


def _count_lines(parsed: DataFrame, copies: DataFrame, reports: dict[str, CompactionReport]) -> None:
    """Lines in, quarantined by reason and copies dropped, per day: every line once (its problem, or "valid") and
    every copy that is not kept, counted in one job."""
    counts = (parsed.select("received_date", F.coalesce("problem", F.lit("valid")).alias("status"))
              .unionByName(copies.where(F.col("status") != "ok").select("received_date", "status"))
              .groupBy("received_date", "status").count().collect())
    for received_date, status, count in counts:
        report = reports[received_date.isoformat()]
        if status == "duplicate":
            report.duplicates_within_day = count
        elif status == "earlier":
            report.duplicates_across_days = count
        else:
            report.rows_in += count
            if status in QUARANTINE_REASONS:
                report.quarantined[status] = count
    for report in reports.values():
        report.quarantined = {reason: report.quarantined[reason] for reason in QUARANTINE_REASONS
                              if reason in report.quarantined}


def _received_before(spark: SparkSession, lake: LakeFileSystem, days: list[str], landed: list[str],
                     window_days: int) -> DataFrame | None:
    """(message_id, received_date) of what the days within the dedup window before a landed day received, for
    the days this run does not compact: their ``lake.MESSAGE_IDS`` record, and their bronze (which a day
    compacted before the records existed has alone)."""
    before = sorted({(date.fromisoformat(day) - timedelta(days=back)).isoformat()
                     for day in landed for back in range(1, window_days + 1)} - set(days))
    bronze = [path for day in before for path in lake.glob(f"{lake.uri(*BRONZE_EVENTS)}/event_date=*/received_date={day}")]
    records = [path for day in before for path in lake.glob(lake.uri(*MESSAGE_IDS, f"received_date={day}"))]
    frames = [spark.read.option("basePath", root).parquet(*paths).select(
        "message_id", F.col("received_date").cast("date").alias("received_date"))
        for root, paths in ((lake.uri(*BRONZE_EVENTS), bronze), (lake.uri(*MESSAGE_IDS), records)) if paths]
    return functools.reduce(DataFrame.unionByName, frames) if frames else None


def _without_later_copies(spark: SparkSession, lake: LakeFileSystem, valid: DataFrame, days: list[str],
                          window_days: int, staging: str) -> dict[str, dict[str, str | None]]:
    """The bronze folders of arrival days after this run's (within the window, not in the run) that keep a copy
    of an id a day of this run received in the window before them, written again without it: later day →
    event day → staged folder (None: nothing left, delete it). Empty unless days were compacted out of order."""
    run_days = set(days)
    after = sorted({(date.fromisoformat(day) + timedelta(days=ahead)).isoformat()
                    for day in days for ahead in range(1, window_days + 1)} - run_days)
    folders = [path for day in after for path in lake.glob(f"{lake.uri(*BRONZE_EVENTS)}/event_date=*/received_date={day}")]
    if not folders:
        return {}
    bronze = spark.read.option("basePath", lake.uri(*BRONZE_EVENTS)).parquet(*folders)
    received = valid.select("message_id", F.col("received_date").alias("seen_on")).distinct()
    dropped = (bronze.select("message_id", "event_date", "received_date").join(received, "message_id")
               .where(F.datediff("received_date", "seen_on").between(1, window_days))
               .select("message_id", "event_date", "received_date").distinct().persist())
    try:
        affected = {(str(row.received_date), str(row.event_date))
                    for row in dropped.select("received_date", "event_date").distinct().collect()}
        if not affected:
            return {}
        kept = bronze.join(F.broadcast(dropped), ["message_id", "event_date", "received_date"], "left_anti")
        rewritten = _write_bronze(lake, kept.join(F.broadcast(dropped.select("event_date", "received_date").distinct()),
                                                  ["event_date", "received_date"], "left_semi"), staging)
    finally:
        dropped.unpersist()
    later: dict[str, dict[str, str | None]] = {}
    for day, event_date in sorted(affected):
        later.setdefault(day, {})[event_date] = rewritten.get(day, {}).get(event_date)
    return later


def _write_bronze(lake: LakeFileSystem, bronze: DataFrame, staging: str) -> dict[str, dict[str, str]]:
    """Write every (event day, arrival day) folder in one job; the staged folders by arrival day, then event day.

    Sorted files, so a re-run writes the same bytes: events of their arrival day straight from the input
    splits (one file per ~128 MB of landing data, no shuffle), the few events of other days shuffled to one
    file per folder.
    """
    on_time = F.col("event_date") == F.col("received_date")
    other_days = bronze.where(~on_time).repartition("event_date", "received_date")
    (bronze.where(on_time).unionByName(other_days)
     .sortWithinPartitions("event_date", "received_date", "event_time", "message_id")
     .write.partitionBy("event_date", "received_date").parquet(staging))
    written: dict[str, dict[str, str]] = {}
    for event_folder in lake.list_dirs(staging):
        for arrival_folder in lake.list_dirs(f"{staging}/{event_folder}"):
            written.setdefault(arrival_folder.removeprefix("received_date="), {})[
                event_folder.removeprefix("event_date=")] = f"{staging}/{event_folder}/{arrival_folder}"
    return written


def _count_written(spark: SparkSession, staging: str, written: dict[str, dict[str, str]],
                   reports: dict[str, CompactionReport]) -> None:
    """Rows out, late, clamped, offline-queued and bot events per day, from the staged files (one job)."""
    paths = [path for folders in written.values() for path in folders.values()]
    if not paths:
        return
    flags = ("is_late", "is_clamped", "is_offline_queued", "is_bot")
    per_day = (spark.read.option("basePath", staging).parquet(*paths)
               .groupBy(F.col("received_date").cast("string").alias("received_date"))
               .agg(F.count("*").alias("rows_out"), *(F.sum(F.col(flag).cast("int")).alias(flag) for flag in flags))
               .collect())
    for row in per_day:
        report = reports[row["received_date"]]
        report.rows_out = row["rows_out"]
        report.late_events, report.clamped_events, report.offline_queued_events, report.bot_events = (
            int(row[flag] or 0) for flag in flags)


def _write_quarantine(lake: LakeFileSystem, parsed: DataFrame, staging: str) -> dict[str, str]:
    """The rejected lines with their reason, one sorted JSON file per arrival day; the staged folder by day."""
    rejected = parsed.where(F.col("problem").isNotNull())
    messages = F.create_map(*(F.lit(x) for pair in QUARANTINE_REASONS.items() for x in pair))
    (rejected.select(F.col("problem").alias("reason"), messages[F.col("problem")].alias("message"),
                     F.col("received_date").cast("string").alias("received_date"), "source_file", "line",
                     F.col("received_date").alias("arrival_day"))
     .repartition("arrival_day").sortWithinPartitions("arrival_day", "source_file", "line")
     .write.partitionBy("arrival_day").json(staging))
    return {folder.removeprefix("arrival_day="): f"{staging}/{folder}"
            for folder in lake.list_dirs(staging) if folder.startswith("arrival_day=")}


def _commit(lake: LakeFileSystem, settings: Settings, reports: dict[str, CompactionReport],
            landing: dict[str, list[tuple[str, int]]], written: dict[str, dict[str, str]], message_ids: str | None,
            later: dict[str, dict[str, str | None]]) -> None:
    """Replace each day's bronze folders with the staged ones (a day without landing files loses its bronze) and
    its record of received ids, replace the later days' folders that lost copies, then record the landing files
    each day's compaction read (``lake.compaction_record``), all under the warehouse lock.

    What a reader sees: one that holds the warehouse lock (every dbt build does, see ``warehouse.lock``) sees
    every day of this run wholly old or wholly new, since the whole commit holds it. One that does not (an
    ad-hoc query, a quality check of bronze) may see, while the commit runs, some event-day folders of a day
    new and others old, and a folder missing for the instant between ``replace_folder``'s rename aside and
    rename in (two metadata operations on a local disk or HDFS; on object storage a rename is a copy, so
    seconds); never a partly written folder. The record follows the bronze, so a crash in between leaves the
    day looking unprocessed, and it is compacted again (idempotent), never skipped.
    """
    bronze_root = lake.uri(*BRONZE_EVENTS)
    later_event_dates = sorted({event_date for folders in later.values() for event_date in folders})
    with warehouse_lock(settings, f"commit the bronze of arrival days {', '.join(reports)}"):
        for day, report in reports.items():
            report.bytes_written = _replace_arrival_day(lake, bronze_root, day, written.get(day, {}))
            report.event_dates = sorted(written.get(day, {}))
            report.bronze_paths = [f"{bronze_root}/event_date={d}/received_date={day}" for d in report.event_dates]
            ids_record = lake.uri(*MESSAGE_IDS, f"received_date={day}")
            if message_ids and lake.exists(f"{message_ids}/received_date={day}"):
                lake.replace_folder(f"{message_ids}/received_date={day}", ids_record)
            elif lake.exists(ids_record):
                lake.delete(ids_record)
        for day, folders in later.items():
            for event_date, staged in folders.items():
                target = f"{bronze_root}/event_date={event_date}/received_date={day}"
                if staged is None:
                    lake.delete(target)
                else:
                    lake.replace_folder(staged, target)
        for day, report in reports.items():
            report.later_event_dates = later_event_dates
            lake.write_text(lake.uri(*compaction_record(day)), json.dumps({
                "landing_files": [landing_name(path) for path, _ in landing[day]],
                "later_event_dates": later_event_dates,
                "compacted_at": datetime.now(UTC).isoformat()}, indent=1))


def _replace_arrival_day(lake: LakeFileSystem, bronze_root: str, received_date: str, written: dict[str, str]) -> int:
    """Make the ``received_date=R`` folders of bronze exactly ``written`` (event date → staged folder); the
    bytes committed."""
    committed = sum(lake.replace_folder(staged, f"{bronze_root}/event_date={event_date}/received_date={received_date}")
                    for event_date, staged in sorted(written.items()))
    for stale in lake.glob(f"{bronze_root}/event_date=*/received_date={received_date}"):
        if stale.split("event_date=")[1].split("/")[0] not in written:
            lake.delete(stale)
    return committed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.compact", description=__doc__.splitlines()[0])
    parser.add_argument("--received-date", action="append", required=True, type=utc_day,
                        help="an arrival day to compact (UTC); repeat it to compact several in one pass, with the "
                             "rows compacting them one by one gives")
    add_report_option(parser)
    args = parser.parse_args(argv)
    return emit_report(compact(args.received_date), args.report)


if __name__ == "__main__":
    sys.exit(main())
