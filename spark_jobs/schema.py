"""The explicit schema of landing lines (no inference: a stray field never changes a column's type)."""

from __future__ import annotations

from pyspark.sql.types import BooleanType, StringType, StructField, StructType


def _strings(*names: str) -> list[StructField]:
    return [StructField(name, StringType()) for name in names]


# Objects declared as strings (properties, traits) keep their raw JSON text, unknown fields included.
LANDING_SCHEMA = StructType([
    *_strings("messageId", "type", "event", "name", "userId", "anonymousId", "groupId", "previousId",
              "timestamp", "originalTimestamp", "sentAt", "receivedAt", "sourceId", "properties", "traits"),
    StructField("context", StructType([
        *_strings("ip", "userAgent", "locale", "timezone", "sessionId", "traits"),
        StructField("bot", BooleanType()),
        StructField("page", StructType(_strings("url", "path", "referrer", "title", "search"))),
        StructField("campaign", StructType(_strings("source", "medium", "name", "term", "content"))),
        StructField("library", StructType(_strings("name", "version"))),
    ])),
])

PROPERTIES_SCHEMA = StructType([StructField("revenue", StringType()), StructField("currency", StringType())])
