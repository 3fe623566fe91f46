"""bronze/events: the compacted events of one arrival day.

The batch is one row per bronze row of ``bronze/events/event_date=*/received_date=R/`` plus one row per
line the lake job quarantined that day (``quarantine/lake/received_date=R/``, with its reason and the
messageId it carried); as in the landing suite, a quarantined row's other columns are empty and the row
rules skip it.
"""

from __future__ import annotations

from datetime import date

import duckdb
import great_expectations.expectations as gxe

from analytics_settings import Settings
from collector.protocol import EVENT_TYPES
from data_quality.batch import Batch
from data_quality.lake import (
    blank,
    bronze_files,
    connection,
    frame,
    glob,
    lake_uri,
    missing_fields,
    read_ndjson,
    read_parquet,
    relative_to_lake,
)
from data_quality.rules import parameter, rule
from data_quality.suites import volume
from data_quality.suites.landing_events import MAX_HOURS_AHEAD, QUARANTINE_SHARE_MAX
from data_quality.suites.volume import newest

ASSET = "bronze/events"

COVERAGE_MIN = 0.9
CATEGORICAL = ("quarantine_reason", "type", "missing_fields", "file", "client_device_type", "ip_country",
               "user_agent")
SAMPLE_COLUMNS = ("file", "message_id", "type", "received_at", "quarantine_reason")
DETAILS = ("message_id", "received_at", "event_name", "user_agent", "file", "quarantined_message_id")
REQUIRED_FIELDS = {
    "message_id": blank("message_id"),
    "type": blank("type"),
    "event_name": blank("event_name"),
    "source_id": blank("source_id"),
    "event_time": "event_time IS NULL",
    "received_at": "received_at IS NULL",
    "user_id or anonymous_id": f"{blank('user_id')} AND {blank('anonymous_id')}",
    "group_id": f"\"type\" = 'group' AND {blank('group_id')}",
    "previous_id": f"\"type\" = 'alias' AND {blank('previous_id')}",
}


def expectations() -> list:
    return [
        rule(ASSET, gxe.ExpectColumnValuesToBeNull, "quarantine_share", column="quarantine_reason",
                 mostly=1 - QUARANTINE_SHARE_MAX, sample_columns=("quarantined_message_id",),
                 notes=f"At most {QUARANTINE_SHARE_MAX:.0%} of the day's accepted lines were quarantined by the "
                       "lake job (quarantine/lake: unparseable lines or times, events older than "
                       "ANALYTICS_MAX_LATENESS_DAYS). Fix and replay with python -m spark_jobs.replay_quarantine."),
        rule(ASSET, gxe.ExpectColumnValuesToBeNull, "required_fields", column="missing_fields",
                 notes="Every bronze row has message_id, type, event_name, source_id, event_time, received_at, "
                       "user_id or anonymous_id, group_id for a group call and previous_id for an alias call. "
                       "The value lists what a row lacks."),
        rule(ASSET, gxe.ExpectColumnValuesToBeInSet, "type_in_spec", column="type", value_set=sorted(EVENT_TYPES),
                 notes="`type` is one of the Segment spec's calls; the models name and count events by it, so "
                       "another value would be miscounted."),
        rule(ASSET, gxe.ExpectColumnValuesToBeUnique, "message_id_unique", column="message_id_hash",
                 sample_columns=("message_id",),
                 notes="One row per messageId in the arrival day: compaction keeps the earliest copy, so a "
                       "repeated id means double-counted events. Checked on a 64-bit hash of the id (pandas "
                       "compares integers ~10× faster than strings; a false match among 10 million ids has "
                       "odds of ~3 in a million)."),
        rule(ASSET, gxe.ExpectColumnValuesToBeBetween, "event_time_window", column="event_offset_hours",
                 min_value=parameter("offset_min_hours"), max_value=MAX_HOURS_AHEAD,
                 notes="event_time − received_at, in hours, is inside the window compaction enforces: not "
                       "older than ANALYTICS_MAX_LATENESS_DAYS (quarantined) and not more than 23 h ahead "
                       "(clamped). Outside it, events land on the wrong day."),
        rule(ASSET, gxe.ExpectColumnValuesToBeBetween, "revenue_not_negative", column="revenue", min_value=0,
                 sample_columns=("event_name",),
                 notes="Revenue is never negative (refunds are events of their own); one negative amount "
                       "makes every revenue total of its day wrong."),
        rule(ASSET, gxe.ExpectColumnValuesToNotBeInSet, "device_parsed", column="client_device_type",
                 value_set=["other"], mostly=COVERAGE_MIN, sample_columns=("user_agent",),
                 notes=f"At least {COVERAGE_MIN:.0%} of the events that carry a user agent got a device type "
                       "from it (the column is empty for events without one). Less means the user-agent "
                       "parser broke, and every split by device, browser or OS is wrong."),
        rule(ASSET, gxe.ExpectColumnValuesToNotBeInSet, "country_resolved", column="ip_country",
                 value_set=["unresolved"], mostly=COVERAGE_MIN,
                 notes=f"At least {COVERAGE_MIN:.0%} of the events that came with an IP address got a country "
                       "from it (the column is empty for events without one). Less means the geo lookup "
                       "broke, and every split by country is wrong."),
        *volume.expectations(ASSET, "bronze rows"),
    ]


def load(day: date, settings: Settings) -> Batch:
    with connection(settings) as con:
        return _load(day, settings, con)


def _load(day: date, settings: Settings, con: duckdb.DuckDBPyConnection) -> Batch:
    files = bronze_files(con, settings, day)
    rejected = glob(con, lake_uri(settings, "quarantine", "lake", f"received_date={day}", "*.json"))
    rows, details = frame(con, f"""
        WITH bronze AS ({read_parquet(files, BRONZE_COLUMNS)}),
             rejected AS ({read_ndjson(rejected, QUARANTINE_FIELDS)})
        SELECT NULL::VARCHAR AS quarantine_reason, message_id,
               CASE WHEN message_id IS NOT NULL THEN hash(message_id) END AS message_id_hash, "type",
               {missing_fields(REQUIRED_FIELDS)} AS missing_fields,
               received_at::TIMESTAMP AS received_at,
               (epoch(event_time) - epoch(received_at)) / 3600 AS event_offset_hours,
               revenue, event_name,
               CASE WHEN user_agent IS NOT NULL THEN device_type END AS client_device_type,
               CASE WHEN ip IS NOT NULL OR country IS NOT NULL THEN COALESCE(country, 'unresolved') END
                   AS ip_country,
               user_agent,
               filename AS file
        FROM bronze
        UNION ALL BY NAME
        SELECT reason AS quarantine_reason, json_extract_string(line, '$.messageId') AS quarantined_message_id,
               source_file AS file
        FROM rejected
    """, categorical=CATEGORICAL, details=DETAILS)
    details["file"] = relative_to_lake(details["file"], settings)
    accepted = rows["quarantine_reason"].isna()
    volume_parameters, skipped, volume_facts = volume.bounds(
        con, settings, day, newest(details.loc[accepted, "received_at"]))
    facts = {"bronze_files": len(files), "bronze_rows": int(accepted.sum()),
             "lake_quarantined": int((~accepted).sum()), **volume_facts}
    return Batch(rows, {"offset_min_hours": -24 * settings.max_lateness_days, **volume_parameters}, skipped,
                 facts, SAMPLE_COLUMNS, details)


BRONZE_COLUMNS = {
    "message_id": "VARCHAR", "type": "VARCHAR", "event_name": "VARCHAR", "user_id": "VARCHAR",
    "anonymous_id": "VARCHAR", "group_id": "VARCHAR", "previous_id": "VARCHAR", "source_id": "VARCHAR",
    "event_time": "TIMESTAMP", "received_at": "TIMESTAMP", "revenue": "DOUBLE", "device_type": "VARCHAR",
    "user_agent": "VARCHAR", "ip": "VARCHAR", "country": "VARCHAR"}
QUARANTINE_FIELDS = {"reason": "VARCHAR", "source_file": "VARCHAR", "line": "VARCHAR"}
