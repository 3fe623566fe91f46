"""A user's features as of a date D: the one definition training, scoring and serving share.

Point in time: a feature as of D reads only what the warehouse knew before D, the events whose event time
*and* arrival day are before D. Everything that later events could change is derived again from those
events in the same query: the identity stitching (the rule of ``int_identity_links`` / ``int_identities``
on the links known before D: an anonymous id identified after D is still its own user at D), the sessions
(the session rule of ``int_sessions`` on the known events: a session still running at D ends at its last
known event) and the plan (the rule of ``dim_users``: the last ``plan`` trait sent, on the identify calls
known before D). So appending events that arrive on or after D changes no feature as of D.

Cost: the events known before each requested date are read once per date, one query per date (so memory is
that of one date, under ``ANALYTICS_DUCKDB_MEMORY_LIMIT`` with :func:`read_warehouse`); no user × day table is
ever materialized.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd

from analytics_settings import Settings, load_settings

# Bump when any definition below changes: logged with every run, checked by the scoring and the API.
FEATURE_SET_VERSION = "1"

ID_COLUMNS = ["user_id", "as_of_date"]
UNKNOWN = "unknown"  # a categorical with no value before D


@dataclass(frozen=True)
class Feature:
    """One feature: ``phrase`` says its value in plain words (``{value}`` is filled in) for explanations."""

    name: str
    kind: Literal["numeric", "categorical"]
    description: str
    phrase: str

    def in_words(self, value: object) -> str:
        """The value in plain words: "no session for 23 days"."""
        if isinstance(value, float | np.floating) and np.isnan(value):
            return f"{self.name.replace('_', ' ')}: none"
        shown = f"{round(float(value), 2):g}" if isinstance(value, float | int | np.number) else str(value)
        return self.phrase.format(value=shown)


def _windowed(stem: str, description: str, phrase: str, windows: Sequence[str] = ("7d", "28d", "90d")) -> list[Feature]:
    days = {"7d": "7 days", "28d": "28 days", "90d": "90 days"}
    return [*(Feature(f"{stem}_{window}", "numeric", f"{description} in the {days[window]} before D",
                      f"{phrase} in the last {days[window]}") for window in windows),
            Feature(f"{stem}_lifetime", "numeric", f"{description} before D", f"{phrase} in all")]


FEATURES: tuple[Feature, ...] = (
    Feature("days_since_last_session", "numeric", "Days from the day of the user's last activity to D",
            "no session for {value} days"),
    Feature("overdue_sessions", "numeric",
            "Days since the last session times the user's lifetime sessions per day since first seen: the "
            "sessions their own pace would have made meanwhile (a silence long for this user, not for all)",
            "{value} sessions overdue at the user's own pace"),
    Feature("days_since_first_seen", "numeric", "Days from the user's first active day to D",
            "first seen {value} days ago"),
    Feature("days_since_signup", "numeric", "Days from the user's first `Signed Up` to D; NaN before signup",
            "signed up {value} days ago"),
    *_windowed("sessions", "Sessions started", "{value} sessions"),
    *_windowed("events", "Events (bots excluded)", "{value} events"),
    Feature("active_days_28d", "numeric", "Distinct days with activity in the 28 days before D",
            "active on {value} of the last 28 days"),
    Feature("active_days_lifetime", "numeric", "Distinct days with activity before D", "active on {value} days in all"),
    Feature("sessions_trend_14d", "numeric", "Sessions in the 14 days before D minus sessions in the 14 before those",
            "a change of {value} sessions between the last two fortnights"),
    Feature("avg_session_duration_seconds_28d", "numeric",
            "Mean duration (first to last event) of the sessions started in the 28 days before D; NaN without one",
            "sessions of {value} seconds on average"),
    Feature("avg_pages_per_session_28d", "numeric", "Mean page and screen views per session, 28 days before D",
            "{value} pages per session"),
    Feature("bounce_rate_28d", "numeric", "Share of the sessions of the 28 days before D with one event, a view",
            "a bounce rate of {value}"),
    Feature("funnel_step_reached", "numeric",
            "Steps of the signup funnel done before D (0-4: Signed Up, Email Verified, Profile Completed, "
            "Order Completed; a step counts when every earlier one was done too)",
            "funnel step {value} of 4 reached"),
    *_windowed("orders", "`Order Completed` events", "{value} orders"),
    *_windowed("revenue", "Order revenue in the reporting currency", "{value} of revenue"),
    Feature("order_days_lifetime", "numeric", "Distinct days with an order before D", "orders on {value} days"),
    Feature("first_order_days_ago", "numeric", "Days from the first order's day to D; NaN for non-buyers",
            "first order {value} days ago"),
    Feature("last_order_days_ago", "numeric", "Days from the last order's day to D; NaN for non-buyers",
            "last order {value} days ago"),
    Feature("average_order_value", "numeric", "Lifetime revenue per order; NaN for non-buyers",
            "an average order of {value}"),
    Feature("bot_traffic_share", "numeric", "Share of the user's events before D excluded as bot traffic",
            "{value} of the traffic from bots"),
    Feature("plan", "categorical", "The `plan` trait of the user's last identify call that sent one before D",
            "the {value} plan"),
    Feature("device_type", "categorical", "Device type of the user's last event before D", "a {value} device"),
    Feature("platform", "categorical", "web, ios or android (the SDK) of the user's last event before D",
            "the {value} platform"),
    Feature("country_code", "categorical", "Country of the user's last event before D", "country {value}"),
    Feature("acquisition_channel", "categorical",
            "UTM source of the user's first event, else its referrer class (direct, search, social, ...)",
            "acquired through {value}"),
)
FEATURE_NAMES: list[str] = [feature.name for feature in FEATURES]
CATEGORICAL_FEATURES: list[str] = [feature.name for feature in FEATURES if feature.kind == "categorical"]
FEATURES_BY_NAME: dict[str, Feature] = {feature.name: feature for feature in FEATURES}

# The funnel `signup_to_purchase` of dbt_project.yml (the generator's signup funnel).
FUNNEL_STEPS = ("Signed Up", "Email Verified", "Profile Completed", "Order Completed")
SESSION_MAX_HOURS = 24  # dbt var session_max_hours: a longer activity run is cut into slices of this length


class FeatureError(ValueError):
    """A feature frame that a model cannot read; the message names the column and the fix."""


FEATURES_SQL = """
with as_of_dates as (
    select unnest($as_of_dates::date[]) as as_of_date
),

requested as (
    select unnest($user_ids::varchar[]) as user_key
),

readable_ids as (
    -- with user ids given, only the events that can stitch to them are read (what makes one user's features
    -- cheap): their ids, the ids ever linked to them, and those linked to an id ever aliased to them. A
    -- superset: the key is checked after stitching
    select user_key as id from requested
    union
    select link.linked_id from ({links_of_all_events}) as link where link.user_id in (select user_key from requested)
    union
    select link.linked_id
    from ({links_of_all_events}) as link
    join ({links_of_all_events}) as hop on hop.linked_id = link.user_id
    where hop.user_id in (select user_key from requested)
),

known_events as (
    -- what the warehouse knew before each D: event time and arrival day both before it (only the columns
    -- used: each event is repeated once per date)
    select
        dates.as_of_date, event.event_id, event.event_type, event.event_name, event.event_time, event.event_date,
        event.received_at, event.user_id, event.anonymous_id, event.previous_id, event.device_type,
        event.library_name, event.country_code, event.utm_source, event.referrer_class, event.reporting_revenue,
        event.is_bot,
        case when event.event_type = 'identify' then event.traits ->> '$.plan' end as plan_trait
    from marts.fct_events as event
    join as_of_dates as dates
      on event.event_time < dates.as_of_date and event.received_date < dates.as_of_date
    where $user_ids::varchar[] is null
       or event.user_id in (select id from readable_ids)
       or event.anonymous_id in (select id from readable_ids)
       or event.previous_id in (select id from readable_ids)
),

candidate_links as (
    {known_links}
),

links as (
    -- each id's earliest known link wins
    select
        as_of_date,
        linked_id,
        arg_min(user_id, (linked_at, event_id))   as user_id,
        min(linked_at)                            as linked_at,
        arg_min(event_id, (linked_at, event_id))  as event_id,
        arg_min(linked_by, (linked_at, event_id)) as linked_by
    from candidate_links
    group by all
),

identities as (
    -- int_identities' rule: one alias hop further, an alias cycle resolved to the earlier link
    select
        link.as_of_date,
        link.linked_id,
        case when next_link.linked_by = 'alias' and next_link.user_id <> link.linked_id then next_link.user_id
             else link.user_id end as user_key
    from links as link
    left join links as next_link
        on next_link.as_of_date = link.as_of_date and next_link.linked_id = link.user_id
    where next_link.user_id is distinct from link.linked_id
       or (link.linked_at, link.event_id) < (next_link.linked_at, next_link.event_id)
),

stitched as (
    select
        event.*,
        coalesce(by_user.user_key, event.user_id, by_anonymous.user_key, event.anonymous_id) as user_key
    from known_events as event
    left join identities as by_user
        on by_user.as_of_date = event.as_of_date and by_user.linked_id = event.user_id
    left join identities as by_anonymous
        on event.user_id is null and by_anonymous.as_of_date = event.as_of_date
       and by_anonymous.linked_id = event.anonymous_id
),

scoped as (
    select * from stitched
    where $user_ids::varchar[] is null or list_contains($user_ids::varchar[], user_key)
),

bot_share as (
    select as_of_date, user_key, avg(is_bot::int) as bot_traffic_share
    from scoped
    group by all
),

events as (
    select *, date_diff('day', event_date, as_of_date) as days_ago
    from scoped
    where not is_bot
),

runs as (
    -- the session rule of int_sessions on the known events
    select *,
        sum(is_run_start::int) over user_events                          as run_number,
        max(case when is_run_start then event_time end) over user_events as activity_started_at
    from (
        select *,
            coalesce(event_time - lag(event_time) over (partition by as_of_date, user_key order by event_time, event_id)
                     >= to_minutes($inactivity_minutes::bigint), true) as is_run_start
        from events
    )
    window user_events as (partition by as_of_date, user_key order by event_time, event_id rows unbounded preceding)
),

sessions as (
    select
        as_of_date,
        user_key,
        date_diff('day', min(event_time)::date, as_of_date)                 as days_ago,
        date_diff('millisecond', min(event_time), max(event_time)) / 1000.0 as duration_seconds,
        count(*) filter (where event_type in ('page', 'screen'))            as page_views,
        count(*) = 1 and count(*) filter (where event_type in ('page', 'screen')) = 1 as is_bounce
    from runs
    group by as_of_date, user_key, run_number,
             date_diff('millisecond', activity_started_at, event_time) // ($session_max_hours::bigint * 3600000)
),

session_features as (
    select
        as_of_date,
        user_key,
        count(*) filter (where days_ago <= 7)                                 as sessions_7d,
        count(*) filter (where days_ago <= 28)                                as sessions_28d,
        count(*) filter (where days_ago <= 90)                                as sessions_90d,
        count(*)                                                              as sessions_lifetime,
        count(*) filter (where days_ago <= 14)
            - count(*) filter (where days_ago > 14 and days_ago <= 28)         as sessions_trend_14d,
        avg(duration_seconds) filter (where days_ago <= 28)                   as avg_session_duration_seconds_28d,
        avg(page_views) filter (where days_ago <= 28)                         as avg_pages_per_session_28d,
        avg(is_bounce::int) filter (where days_ago <= 28)                     as bounce_rate_28d
    from sessions
    group by all
),

event_features as (
    select
        as_of_date,
        user_key,
        min(days_ago)                                                         as days_since_last_session,
        max(days_ago)                                                         as days_since_first_seen,
        max(days_ago) filter (where event_name = 'Signed Up')                 as days_since_signup,
        count(*) filter (where days_ago <= 7)                                 as events_7d,
        count(*) filter (where days_ago <= 28)                                as events_28d,
        count(*) filter (where days_ago <= 90)                                as events_90d,
        count(*)                                                              as events_lifetime,
        count(distinct event_date) filter (where days_ago <= 28)              as active_days_28d,
        count(distinct event_date)                                            as active_days_lifetime,
        {funnel_step}                                                         as funnel_step_reached,
        count(*) filter (where is_order and days_ago <= 7)                    as orders_7d,
        count(*) filter (where is_order and days_ago <= 28)                   as orders_28d,
        count(*) filter (where is_order and days_ago <= 90)                   as orders_90d,
        count(*) filter (where is_order)                                      as orders_lifetime,
        coalesce(sum(reporting_revenue) filter (where is_order and days_ago <= 7), 0)  as revenue_7d,
        coalesce(sum(reporting_revenue) filter (where is_order and days_ago <= 28), 0) as revenue_28d,
        coalesce(sum(reporting_revenue) filter (where is_order and days_ago <= 90), 0) as revenue_90d,
        coalesce(sum(reporting_revenue) filter (where is_order), 0)           as revenue_lifetime,
        count(distinct event_date) filter (where is_order)                    as order_days_lifetime,
        max(days_ago) filter (where is_order)                                 as first_order_days_ago,
        min(days_ago) filter (where is_order)                                 as last_order_days_ago,
        sum(reporting_revenue) filter (where is_order) / count(*) filter (where is_order) as average_order_value,
        -- dim_users' rule: the last plan sent wins (event time, then arrival, then event id)
        arg_max(plan_trait, (event_time, received_at, event_id)) filter (where plan_trait is not null) as plan,
        arg_max(device_type, (event_time, event_id))                          as device_type,
        arg_max(case library_name when 'analytics.js' then 'web' when 'analytics-ios' then 'ios'
                                  when 'analytics-android' then 'android' else library_name end,
                (event_time, event_id))                                       as platform,
        arg_max(country_code, (event_time, event_id))                         as country_code,
        arg_min(coalesce(utm_source, referrer_class), (event_time, event_id)) as acquisition_channel
    from (select *, event_name = 'Order Completed' as is_order from events)
    group by all
)

select
    event_features.user_key as user_id,
    event_features.as_of_date,
    {columns}
from (
    select *, days_since_last_session * sessions_lifetime / days_since_first_seen as overdue_sessions
    from event_features
    join session_features using (as_of_date, user_key)
) as event_features
join bot_share using (as_of_date, user_key)
order by event_features.as_of_date, event_features.user_key
"""

# int_identity_links' candidates (its macro identity_links): an anonymous id by any call carrying a userId,
# a previousId by an alias
_LINKS_SQL = """
    select {date} anonymous_id as linked_id, user_id, event_time as linked_at, event_id, event_type as linked_by
    from {events}
    where anonymous_id is not null and user_id is not null and anonymous_id <> user_id
    union all
    select {date} previous_id, user_id, event_time, event_id, 'alias'
    from {events}
    where event_type = 'alias' and previous_id is not null and user_id is not null and previous_id <> user_id
"""

# Step k counts when steps 1..k were all done (the product's flow does them in this order).
_FUNNEL_STEP_SQL = " + ".join(
    "(" + " and ".join(f"bool_or(event_name = '{step}')" for step in FUNNEL_STEPS[:k]) + ")::int"
    for k in range(1, len(FUNNEL_STEPS) + 1))


def read_warehouse(warehouse: Path, settings: Settings) -> duckdb.DuckDBPyConnection:
    """``warehouse`` read-only under the stack's DuckDB limits (``ANALYTICS_DUCKDB_MEMORY_LIMIT``, ``_THREADS``).
    DuckDB's own default is 80% of the RAM, which the features of every user over the snapshot dates would
    take at 10M events; past the limit it spills to ``<warehouse>.tmp``."""
    return duckdb.connect(str(warehouse), read_only=True, config={
        "memory_limit": settings.duckdb_memory_limit, "threads": settings.duckdb_threads})


def build_features(connection: duckdb.DuckDBPyConnection, as_of: date | Sequence[date],
                   user_ids: Sequence[str] | None = None, *, inactivity_minutes: int | None = None) -> pd.DataFrame:
    """One row per (user_id, as_of_date) for every non-bot user seen before each date of ``as_of`` (or only
    ``user_ids``): ``user_id``, ``as_of_date``, then :data:`FEATURE_NAMES` with their model dtypes.

    ``inactivity_minutes`` is the session rule's gap; by default ``ANALYTICS_SESSION_INACTIVITY_MINUTES``,
    which the warehouse was built with.
    """
    dates = sorted({as_of} if isinstance(as_of, date) else set(as_of))
    if not dates:
        raise ValueError("build_features needs at least one as-of date")
    columns = ",\n    ".join(
        f"{feature.name}" if feature.kind == "categorical" else f"{feature.name}::double as {feature.name}"
        for feature in FEATURES)
    sql = FEATURES_SQL.format(
        funnel_step=_FUNNEL_STEP_SQL, columns=columns,
        known_links=_LINKS_SQL.format(date="as_of_date,", events="known_events"),
        links_of_all_events=_LINKS_SQL.format(date="", events="marts.fct_events"))
    parameters = {"user_ids": None if user_ids is None else list(user_ids),
                  "inactivity_minutes": inactivity_minutes or load_settings().session_inactivity_minutes,
                  "session_max_hours": SESSION_MAX_HOURS}
    # One query per date: each date repeats the events known before it, so a query over all the snapshot dates
    # held all those copies at once (peak memory grew with the dates); the work per date is the same.
    frame = pd.concat([connection.execute(sql, {**parameters, "as_of_dates": [day]}).df() for day in dates],
                      ignore_index=True)
    frame["as_of_date"] = pd.to_datetime(frame["as_of_date"]).dt.date
    frame["user_id"] = frame["user_id"].astype(str)
    return pd.concat([frame[ID_COLUMNS], model_input(frame)], axis=1)


def model_input(features: pd.DataFrame) -> pd.DataFrame:
    """The :data:`FEATURE_NAMES` columns of ``features`` with the models' dtypes (numeric float64, NaN where
    undefined; categoricals ``category``, missing -> ``unknown``); raises :class:`FeatureError` naming a
    column that is missing, unknown or of the wrong type."""
    unknown = [column for column in features.columns if column not in FEATURES_BY_NAME and column not in ID_COLUMNS]
    if unknown:
        raise FeatureError(f"unknown feature {unknown[0]!r}: the features (version {FEATURE_SET_VERSION}) are "
                           f"{', '.join(FEATURE_NAMES)}")
    missing = [name for name in FEATURE_NAMES if name not in features.columns]
    if missing:
        raise FeatureError(f"feature {missing[0]!r} is missing: give every feature of version "
                           f"{FEATURE_SET_VERSION} (null where unknown)")
    columns = {}
    for feature in FEATURES:
        values = features[feature.name]
        if _in_model_form(values, feature):  # most calls: rows this function made (scoring, served features)
            columns[feature.name] = values
            continue
        if feature.kind == "categorical":
            text = values.astype(object).where(values.notna(), UNKNOWN).map(str)
            columns[feature.name] = text.astype("category")
            continue
        try:
            columns[feature.name] = pd.to_numeric(values.astype(object).where(values.notna(), np.nan),
                                                  errors="raise").astype("float64")
        except (ValueError, TypeError) as error:
            raise FeatureError(f"feature {feature.name!r} must be a number (or null): {error}") from None
    return pd.DataFrame(columns, index=features.index)


def _in_model_form(values: pd.Series, feature: Feature) -> bool:
    """Whether ``values`` already has the models' dtype: converting costs most of a one-user prediction."""
    if feature.kind == "numeric":
        return values.dtype == "float64"
    return (isinstance(values.dtype, pd.CategoricalDtype) and values.cat.categories.inferred_type == "string"
            and not values.isna().any())
