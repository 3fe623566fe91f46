"""Compact one arrival day of the landing zone into bronze Parquet.

    python -m spark_jobs.compact --received-date YYYY-MM-DD [--report report.json]

Reads the sealed landing files of ``received_date=R`` with an explicit schema, keeps one row per
``messageId`` (the earliest ``receivedAt``, also against the bronze rows of the previous
``ANALYTICS_DEDUP_WINDOW_DAYS`` arrival days), corrects event time for clock skew, enriches (event
names, URL and UTM, referrer class, user agent, bots, country) on distinct values, applies the source's PII
policy, and replaces ``bronze/events/event_date=*/received_date=R/`` folder by folder (written to
``_staging/`` first, then renamed). Lines it cannot accept go to ``quarantine/lake/received_date=R/``.
Re-running a day gives the same rows in the same files.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark import StorageLevel
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from analytics_settings import Settings, load_settings
from spark_jobs import enrich
from spark_jobs.job_cli import add_report_option, emit_report, utc_day
from spark_jobs.lake_fs import LakeFileSystem
from spark_jobs.schema import LANDING_SCHEMA, PROPERTIES_SCHEMA
from spark_jobs.session import run_job

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
        quarantines = [report.quarantine_path for report in reports if report.quarantine_path]
        combined.quarantine_path = quarantines[0].rsplit("/received_date=", 1)[0] if quarantines else None
        return combined


def _time(column: Column) -> Column:
    return column.try_cast("timestamp")


def _millis_between(later: Column, earlier: Column) -> Column:
    return F.unix_millis(later) - F.unix_millis(earlier)


def read_landing(spark: SparkSession, files: list[str]) -> DataFrame:
    """The landing lines, each parsed with the explicit schema into one struct ``e`` (null when the line is
    not a JSON object), and the file it came from."""
    lines = spark.read.text(files)
    return lines.select(F.from_json("value", LANDING_SCHEMA).alias("e"), F.col("value").alias("raw_line"),
                        F.input_file_name().alias("source_file"))


def parse_lines(parsed: DataFrame, received_date: str, settings: Settings) -> DataFrame:
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
        problem.alias("problem"),
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
                                .withColumn("is_late", F.col("event_date") < F.lit(received_date).cast("date")))


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


def mark_duplicates(spark: SparkSession, rows: DataFrame) -> DataFrame:
    """``status``: the problem, ``duplicate`` for every copy of a messageId but the earliest, else ``ok``.

    Only the few repeated messageIds are shuffled: their ids are found on a narrow aggregate and
    broadcast, so the wide rows of the day never move.
    """
    valid = rows.where(F.col("problem").isNull())
    repeated = [row.message_id for row in
                valid.groupBy("message_id").count().where(F.col("count") > 1).select("message_id").collect()]
    with_problem = rows.where(F.col("problem").isNotNull()).withColumn("status", F.col("problem"))
    if not repeated:
        return with_problem.unionByName(valid.withColumn("status", F.lit("ok")))
    ids = F.broadcast(spark.createDataFrame([(m,) for m in repeated], "message_id string"))
    earliest_first = Window.partitionBy("message_id").orderBy(
        F.col("received_at"), F.col("raw_user_id"), F.col("anonymous_id"), F.col("properties"), F.col("raw_traits"))
    copies = valid.join(ids, "message_id", "left_semi").withColumn(
        "status", F.when(F.row_number().over(earliest_first) == 1, "ok").otherwise("duplicate")).coalesce(1)
    return (with_problem.unionByName(valid.join(ids, "message_id", "left_anti").withColumn("status", F.lit("ok")))
            .unionByName(copies))


def _lookup(spark: SparkSession, rows: list[tuple], schema: str) -> DataFrame:
    """A small enrichment table (explicit DDL schema), broadcast to every task."""
    return F.broadcast(spark.createDataFrame(rows, schema))


@dataclass
class Lookups:
    """The enrichment tables, computed once per distinct value on the driver and broadcast."""

    user_agents: DataFrame
    ips: DataFrame
    referrers: DataFrame
    event_names: DataFrame
    sources: set[str]


def build_lookups(spark: SparkSession, rows: DataFrame, settings: Settings) -> Lookups:
    referrer_key = F.struct("referrer_host", "has_referrer", "page_host", "utm_medium", "click_id")
    values = rows.agg(  # one pass for every distinct set
        F.collect_set("user_agent"), F.collect_set("raw_ip"), F.collect_set(referrer_key),
        F.collect_set("event"), F.collect_set("source_id")).first()
    user_agents, ips, referrer_keys, event_names, sources = values
    patterns = tuple(settings.bot_user_agent_patterns)
    return Lookups(
        user_agents=_lookup(spark, [(ua, *_user_agent_row(enrich.parse_user_agent(ua, patterns)))
                                    for ua in user_agents],
                            "lookup_user_agent string, browser string, browser_version string, os string, "
                            "os_version string, device_type string, ua_is_bot boolean"),
        ips=_lookup(spark, [(ip, enrich.country_for_ip(ip), enrich.truncate_ip(ip)) for ip in ips],
                    "lookup_ip string, country string, truncated_ip string"),
        referrers=_lookup(spark, [(*key, enrich.classify_referrer_host(*key)) for key in referrer_keys],
                          "r_host string, r_present boolean, p_host string, r_medium string, r_click string, "
                          "referrer_class string"),
        event_names=_lookup(spark, [(name, enrich.normalize_event_name(name)) for name in event_names],
                            "lookup_event string, normalized_event string"),
        sources=set(sources),
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
    """The bronze columns of accepted rows, joined with the broadcast enrichment tables."""
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
    ).select(*BRONZE_COLUMNS)


def _user_agent_row(parsed: enrich.UserAgent) -> tuple:
    return (parsed.browser, parsed.browser_version, parsed.os, parsed.os_version, parsed.device_type,
            parsed.is_bot)


def _salted(column: Column, salt: str) -> Column:
    """The same keyed hash as ``enrich.salted_hash`` (hex HMAC-SHA256 keyed with the salt), natively."""
    return F.lower(F.hex(F.hmac(F.lit(salt).cast("binary"), column.cast("binary"))))


def _apply_pii(rows: DataFrame, sources: set[str], settings: Settings) -> DataFrame:
    """The source's PII policy, before anything reaches bronze (default: truncated IP, identifiers kept)."""
    source = F.col("source_id")
    policies = {s: settings.pii_policy_for(s) for s in sources}
    keep_ip = [s for s, p in policies.items() if p.ip == "keep"]
    drop_ip = [s for s, p in policies.items() if p.ip == "drop"]
    hashed = [s for s, p in policies.items() if p.hash_identifiers]
    salt = settings.pii_salt.get_secret_value()
    ip = (F.when(source.isin(keep_ip), F.col("raw_ip")).when(source.isin(drop_ip), F.lit(None))
          .otherwise(F.col("truncated_ip")))
    is_hashed = source.isin(hashed) if hashed else F.lit(False)
    traits = F.col("raw_traits")
    email = F.get_json_object(traits, "$.email")
    hashed_traits = F.when(email.isNull(), traits).otherwise(F.regexp_replace(
        traits, r'"email"\s*:\s*"(?:[^"\\]|\\.)*"', F.concat(F.lit('"email":"'), _salted(email, salt), F.lit('"'))))
    return rows.select(
        "*", ip.alias("ip"),
        F.when(is_hashed, _salted(F.col("raw_user_id"), salt)).otherwise(F.col("raw_user_id")).alias("user_id"),
        F.when(is_hashed, _salted(F.col("raw_previous_id"), salt)).otherwise(F.col("raw_previous_id")
                                                                              ).alias("previous_id"),
        F.when(is_hashed, hashed_traits).otherwise(traits).alias("traits"),
    )


def compact(received_dates: list[str], settings: Settings | None = None) -> CompactionReport:
    """Compact the arrival days in date order on one session (each day reads the bronze of the days before)."""
    settings = settings or load_settings()
    days = sorted(set(received_dates))
    return run_job(settings, f"compact {days[0]}" + (f"..{days[-1]}" if len(days) > 1 else ""),
                   lambda spark: CompactionReport.combine([compact_arrival_day(spark, day, settings) for day in days]))


def compact_arrival_day(spark: SparkSession, received_date: str, settings: Settings) -> CompactionReport:
    """The compaction of arrival day ``received_date`` on an existing session (the tests share one)."""
    date.fromisoformat(received_date)  # a clear error for a malformed date before Spark does anything
    lake = LakeFileSystem(spark, settings.lake_root)
    lake.delete_staging(f"bronze-{received_date}-")  # what a crashed run of this day left behind
    lake.delete_staging(f"quarantine-{received_date}-")
    report = CompactionReport(received_date)
    day_folder = lake.uri("landing", f"received_date={received_date}")
    files = lake.glob(f"{day_folder}/hour=*/*.ndjson")
    report.landing_files = len(files)
    bronze_root = lake.uri("bronze", "events")
    for event_date_dir in lake.list_dirs(bronze_root):
        lake.repair_replacements(f"{bronze_root}/{event_date_dir}")
    if not files:
        _replace_arrival_day(lake, bronze_root, received_date, {})
        return report

    # shuffle partitions sized to the day (~128 MB each), so a big day never makes huge tasks
    landing_bytes = sum(lake.folder_bytes(hour) for hour in lake.glob(f"{day_folder}/hour=*"))
    spark.conf.set("spark.sql.shuffle.partitions",
                   str(max(settings.spark_shuffle_partitions, math.ceil(landing_bytes / SHUFFLE_PARTITION_BYTES))))
    parsed = parse_lines(read_landing(spark, files), received_date, settings).persist(StorageLevel.DISK_ONLY)
    try:
        classified = mark_duplicates(spark, parsed)
        counts = {row["status"]: row["count"] for row in classified.groupBy("status").count().collect()}
        report.rows_in = sum(counts.values())
        report.duplicates_within_day = counts.pop("duplicate", 0)
        report.quarantined = {reason: counts[reason] for reason in QUARANTINE_REASONS if counts.get(reason)}
        report.quarantine_path = _write_quarantine(lake, parsed, received_date)

        accepted = classified.where(F.col("status") == "ok")
        lookups = build_lookups(spark, accepted, settings)
        earlier = _earlier_message_ids(spark, lake, bronze_root, received_date, settings.dedup_window_days)
        if earlier is not None:
            accepted = accepted.join(earlier, "message_id", "left_anti")
        staging = lake.staging(f"bronze-{received_date}-")
        _write_bronze(enrich_rows(accepted, lookups, settings), received_date, staging)
        written = {name.removeprefix("event_date="): f"{staging}/{name}" for name in lake.list_dirs(staging)
                   if name.startswith("event_date=")}
        _replace_arrival_day(lake, bronze_root, received_date, written)
        lake.delete(staging)
    finally:
        parsed.unpersist()

    report.event_dates = sorted(written)
    report.bronze_paths = [f"{bronze_root}/event_date={d}/received_date={received_date}" for d in report.event_dates]
    report.bytes_written = sum(lake.folder_bytes(path) for path in report.bronze_paths)
    if report.bronze_paths:
        stats = spark.read.parquet(*report.bronze_paths).agg(
            F.count("*"), F.sum(F.col("is_late").cast("int")), F.sum(F.col("is_clamped").cast("int")),
            F.sum(F.col("is_offline_queued").cast("int")), F.sum(F.col("is_bot").cast("int"))).first()
        (report.rows_out, report.late_events, report.clamped_events, report.offline_queued_events,
         report.bot_events) = (int(value or 0) for value in stats)
    report.duplicates_across_days = counts.get("ok", 0) - report.rows_out
    return report


def _write_bronze(bronze: DataFrame, received_date: str, staging: str) -> None:
    """Sorted files, so a re-run writes the same bytes: the arrival day's own events straight from the input
    splits (one file per ~128 MB of landing data, no shuffle), the few events of other days shuffled to
    one file per day."""
    on_time = F.col("event_date") == F.lit(received_date).cast("date")
    other_days = bronze.where(~on_time).repartition("event_date")
    (bronze.where(on_time).unionByName(other_days)
     .sortWithinPartitions("event_date", "event_time", "message_id")
     .write.partitionBy("event_date").parquet(staging))


def _earlier_message_ids(spark: SparkSession, lake: LakeFileSystem, bronze_root: str, received_date: str,
                         window_days: int) -> DataFrame | None:
    day = date.fromisoformat(received_date)
    paths = [path for back in range(1, window_days + 1)
             for path in lake.glob(f"{bronze_root}/event_date=*/received_date={day - timedelta(days=back)}")]
    if not paths:
        return None
    return spark.read.parquet(*paths).select("message_id").distinct()


def _write_quarantine(lake: LakeFileSystem, parsed: DataFrame, received_date: str) -> str | None:
    target = lake.uri("quarantine", "lake", f"received_date={received_date}")
    rejected = parsed.where(F.col("problem").isNotNull())
    messages = F.create_map(*(F.lit(x) for pair in QUARANTINE_REASONS.items() for x in pair))
    staging = lake.staging(f"quarantine-{received_date}-")
    (rejected.select(F.col("problem").alias("reason"), messages[F.col("problem")].alias("message"),
                     F.lit(received_date).alias("received_date"), "source_file", "line")
     .repartition(1).sortWithinPartitions("source_file", "line").write.json(staging))
    lake.replace_folder(staging, target)
    return target


def _replace_arrival_day(lake: LakeFileSystem, bronze_root: str, received_date: str, written: dict[str, str]) -> None:
    """Make the ``received_date=R`` folders of bronze exactly ``written`` (event date → staged folder)."""
    for event_date, staged in sorted(written.items()):
        lake.replace_folder(staged, f"{bronze_root}/event_date={event_date}/received_date={received_date}")
    for stale in lake.glob(f"{bronze_root}/event_date=*/received_date={received_date}"):
        if stale.split("event_date=")[1].split("/")[0] not in written:
            lake.delete(stale)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m spark_jobs.compact", description=__doc__.splitlines()[0])
    parser.add_argument("--received-date", action="append", required=True, type=utc_day,
                        help="an arrival day to compact (UTC); repeat it to compact several in one Spark session, "
                             "in date order")
    add_report_option(parser)
    args = parser.parse_args(argv)
    return emit_report(compact(args.received_date), args.report)


if __name__ == "__main__":
    sys.exit(main())
