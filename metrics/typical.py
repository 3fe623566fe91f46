"""A dozen queries a dashboard makes, for the warehouse benchmark (and as examples of the API).

Each is the keyword arguments of :meth:`metrics.SemanticLayer.query` without the time range, plus how
many days back from the end of the range it looks; :func:`typical_queries` fills in the range.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class TypicalQuery:
    """A named dashboard query over the ``days`` days before the end of the range."""

    name: str
    days: int
    arguments: dict[str, Any] = field(default_factory=dict)


TYPICAL_QUERIES: tuple[TypicalQuery, ...] = (
    TypicalQuery("events per day", 14, {"metrics": ["events"], "grain": "day"}),
    TypicalQuery("active users: daily, 7-day, 30-day", 28,
                 {"metrics": ["active_users", "active_users_7d", "active_users_30d"], "grain": "day"}),
    TypicalQuery("new users per week", 56, {"metrics": ["new_users"], "grain": "week"}),
    TypicalQuery("sessions, duration, bounce rate per day", 14,
                 {"metrics": ["sessions", "average_session_duration", "bounce_rate"], "grain": "day"}),
    TypicalQuery("revenue and orders by country", 28,
                 {"metrics": ["revenue", "orders"], "group_by": ["event__country_code", "event__currency"],
                  "grain": None, "order_by": ["-orders"]}),
    TypicalQuery("ARPU by plan per week", 56,
                 {"metrics": ["average_revenue_per_user"], "group_by": ["user__plan"], "grain": "week"}),
    TypicalQuery("funnel conversion per week", 56,
                 {"metrics": ["signup_to_purchase_conversion_rate", "browse_to_cart_conversion_rate"],
                  "grain": "week"}),
    TypicalQuery("funnel conversion by device type", 28,
                 {"metrics": ["funnel_entrants", "funnel_conversion_rate"],
                  "group_by": ["funnel_entry__funnel_name", "funnel_entry__device_type"], "grain": None}),
    TypicalQuery("day-1/7/30 retention per cohort week", 56,
                 {"metrics": ["day_1_retention", "day_7_retention", "day_30_retention"], "grain": "week"}),
    TypicalQuery("retention matrix", 28,
                 {"metrics": ["retention_rate"], "group_by": ["cohort_period__period_number"], "grain": "day",
                  "where": [("cohort_period__period_number", "<=", 14)]}),
    TypicalQuery("week-over-week growth card", 14,
                 {"metrics": ["events_wow_growth", "sessions_wow_growth", "active_users_wow_growth",
                              "revenue_wow_growth"], "grain": "week"}),
    TypicalQuery("top track events", 7,
                 {"metrics": ["events"], "group_by": ["event__event_name"], "grain": None,
                  "where": [("event__event_type", "=", "track")], "order_by": ["-events"], "limit": 10}),
    TypicalQuery("sessions by campaign for chosen sources", 28,
                 {"metrics": ["sessions", "bounce_rate"],
                  "group_by": ["session__utm_source", "session__utm_campaign"], "grain": "week",
                  "where": [("session__utm_source", "in", ["google", "facebook", "newsletter"]),
                            ("session__device_type", "!=", "bot")]}),
)


def typical_queries(end: datetime.date | None = None) -> dict[str, dict[str, Any]]:
    """Query keyword arguments by name, each over its days before ``end`` (exclusive); ``end`` defaults to
    the day after the last day with events in the shared layer's warehouse (asked through a metric)."""
    if end is None:
        from metrics.layer import default_layer

        last = default_layer().query("events", order_by=["-metric_time__day"], limit=1)["metric_time__day"]
        end = last.iloc[0].date() + datetime.timedelta(days=1)
    return {typical.name: {**typical.arguments, "start": end - datetime.timedelta(days=typical.days), "end": end}
            for typical in TYPICAL_QUERIES}
