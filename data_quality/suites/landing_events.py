"""landing/events: the stored Segment events of one arrival day, as the collector landed them.

The batch is one row per sealed landing line of ``landing/received_date=R/`` plus one row per line the
collector quarantined that day (``quarantine/collector/received_date=R/``, with its ``quarantine_reason``);
the other columns of a quarantined row are empty, so the rules below skip it (Great Expectations counts
nulls as missing, not unexpected). A line that is not a JSON object has none of the required fields (the
collector writes whole objects and repairs torn tails, so such a line means another writer broke the file).
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
    connection,
    frame,
    glob,
    lake_uri,
    missing_fields,
    read_ndjson,
    relative_to_lake,
)
from data_quality.rules import parameter, rule
from data_quality.suites import volume
from data_quality.suites.volume import newest

ASSET = "landing/events"

QUARANTINE_SHARE_MAX = 0.05
RETRIED_SHARE_MAX = 0.05
EVENT_TIME_SHARE_MIN = 0.99
MAX_HOURS_AHEAD = 23  # DESIGN: no event time more than 23 h after receivedAt

# The stored-event fields the rules read; everything else on the line is never parsed into a column.
LANDING_FIELDS = {name: "VARCHAR" for name in (
    "messageId", "type", "event", "userId", "anonymousId", "groupId", "previousId", "sourceId", "receivedAt",
    "timestamp", "originalTimestamp", "sentAt")}
QUARANTINE_FIELDS = {"reason": "VARCHAR", "receivedAt": "VARCHAR"}
CATEGORICAL = ("quarantine_reason", "type", "missing_fields", "file")
DETAILS = ("message_id", "received_at", "file")  # shown in samples, not validated
SAMPLE_COLUMNS = ("file", "message_id", "type", "received_at", "quarantine_reason")
REQUIRED_FIELDS = {  # what check_event (collector/protocol.py) requires of an accepted event
    "messageId": blank("messageId"),
    "type": blank("type"),
    "receivedAt": "received IS NULL",
    "sourceId": blank("sourceId"),
    "userId or anonymousId": f"{blank('userId')} AND {blank('anonymousId')}",
    "event": f"\"type\" = 'track' AND {blank('event')}",
    "groupId": f"\"type\" = 'group' AND {blank('groupId')}",
    "previousId": f"\"type\" = 'alias' AND {blank('previousId')}",
}


def expectations() -> list:
    return [
        rule(ASSET, gxe.ExpectColumnValuesToBeNull, "quarantine_share", column="quarantine_reason",
                 mostly=1 - QUARANTINE_SHARE_MAX,
                 notes=f"At most {QUARANTINE_SHARE_MAX:.0%} of the day's lines were rejected by the collector "
                       "(quarantine/collector, by reason). More means a broken client or SDK release: the "
                       "day's counts would be short by that share."),
        rule(ASSET, gxe.ExpectColumnValuesToBeNull, "required_fields", column="missing_fields",
                 notes="Every landed line has what the Segment spec and the collector require: messageId, "
                       "type, receivedAt (ISO 8601), sourceId, userId or anonymousId, `event` for a track "
                       "call, groupId for a group call, previousId for an alias call. The value lists what "
                       "a line lacks."),
        rule(ASSET, gxe.ExpectColumnValuesToBeInSet, "type_in_spec", column="type", value_set=sorted(EVENT_TYPES),
                 notes="`type` is one of the Segment spec's calls (the collector checks it; a line that is not "
                       "says a writer bypassed it): the models name and count events by it."),
        rule(ASSET, gxe.ExpectColumnValuesToBeBetween, "received_in_partition", column="received_hours",
                 min_value=0, max_value=24, strict_max=True,
                 notes="receivedAt, in hours from the start of the folder's arrival day, is within that day "
                       "[0, 24): the lake partitions by folder, so a misplaced line would be counted on the "
                       "wrong day."),
        rule(ASSET, gxe.ExpectColumnValuesToBeUnique, "message_id_unique", column="message_id_hash",
                mostly=1 - RETRIED_SHARE_MAX, sample_columns=("message_id",),
                notes=f"Lines share a messageId only when a client retried (the lake keeps one): at most "
                      f"{RETRIED_SHARE_MAX:.0%} of lines (every copy counts). More means a retry storm or a "
                      "replayed file. Checked on a 64-bit hash of the id (pandas compares integers ~10× "
                      "faster than strings; a false match among 10 million ids has odds of ~3 in a million)."),
        rule(ASSET, gxe.ExpectColumnValuesToBeBetween, "event_time_window", column="event_offset_hours",
                min_value=parameter("offset_min_hours"), max_value=MAX_HOURS_AHEAD,
                mostly=EVENT_TIME_SHARE_MIN,
                notes="The event time after Segment's clock-skew rule (receivedAt − (sentAt − "
                      "originalTimestamp)), in hours from receivedAt, is within the accepted window: not older "
                      "than ANALYTICS_MAX_LATENESS_DAYS, not more than 23 h ahead. The lake quarantines the "
                      f"older and clamps the later ones, so this warns when more than "
                      f"{1 - EVENT_TIME_SHARE_MIN:.0%} fall outside."),
        *volume.expectations(ASSET, "landed lines"),
    ]


def load(day: date, settings: Settings) -> Batch:
    with connection(settings) as con:
        return _load(day, settings, con)


def _load(day: date, settings: Settings, con: duckdb.DuckDBPyConnection) -> Batch:
    landed = glob(con, lake_uri(settings, "landing", f"received_date={day}", "hour=*", "*.ndjson"))
    rejected = glob(con, lake_uri(settings, "quarantine", "collector", f"received_date={day}", "hour=*",
                                  "*.ndjson"))
    rows, details = frame(con, f"""
        WITH landed AS ({read_ndjson(landed, LANDING_FIELDS, filename=True)}),
             rejected AS ({read_ndjson(rejected, QUARANTINE_FIELDS, filename=True)}),
        typed AS (
            SELECT *, TRY_CAST(receivedAt AS TIMESTAMPTZ) AS received,
                      TRY_CAST(COALESCE(originalTimestamp, "timestamp") AS TIMESTAMPTZ) AS device,
                      TRY_CAST(sentAt AS TIMESTAMPTZ) AS sent
            FROM landed
        )
        SELECT NULL::VARCHAR AS quarantine_reason, messageId AS message_id,
               CASE WHEN messageId IS NOT NULL THEN hash(messageId) END AS message_id_hash, "type",
               {missing_fields(REQUIRED_FIELDS)} AS missing_fields,
               received::TIMESTAMP AS received_at,
               (epoch(received) - epoch(?::TIMESTAMPTZ)) / 3600 AS received_hours,
               CASE WHEN sent IS NOT NULL AND device IS NOT NULL THEN epoch(device) - epoch(sent)
                    ELSE epoch(COALESCE(device, received)) - epoch(received) END / 3600 AS event_offset_hours,
               filename AS file
        FROM typed
        UNION ALL BY NAME
        SELECT reason AS quarantine_reason, TRY_CAST(receivedAt AS TIMESTAMPTZ)::TIMESTAMP AS received_at,
               (epoch(TRY_CAST(receivedAt AS TIMESTAMPTZ)) - epoch(?::TIMESTAMPTZ)) / 3600 AS received_hours,
               filename AS file
        FROM rejected
    """, categorical=CATEGORICAL, params=[day.isoformat(), day.isoformat()], details=DETAILS)
    parameters = {"offset_min_hours": -24 * settings.max_lateness_days}
    details["file"] = relative_to_lake(details["file"], settings)
    accepted = rows["quarantine_reason"].isna()
    volume_parameters, skipped, volume_facts = volume.bounds(
        con, settings, day, newest(details.loc[accepted, "received_at"]))
    facts = {"landing_files": len(landed), "collector_quarantine_files": len(rejected),
             "lines_landed": int(accepted.sum()), "lines_rejected": int((~accepted).sum()), **volume_facts}
    return Batch(rows, {**parameters, **volume_parameters}, skipped, facts, SAMPLE_COLUMNS, details)
