"""Who a model is about at a date D, and what happened to them after it (labels and targets).

The population and the features come from what the warehouse knew before D (:mod:`ml.features`); labels and
targets look at ``[D, D + horizon)`` with everything the warehouse knows now, and only once that window is
closed: it must end on or before the first provisional day, whose events may still arrive.

A user is keyed as the warehouse knew them at D (an anonymous visitor identified after D is still their
anonymous id at D); their future activity is looked up under the key they have now (``int_identities``), so
a visitor who signs up after D is not mistaken for one who left.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import pandas as pd

from analytics_settings import Settings
from ml.features import build_features


class LabelWindowOpenError(ValueError):
    """The label window of a date is not closed yet: its last days may still gain late events."""


def data_through(connection: duckdb.DuckDBPyConnection) -> date:
    """The latest arrival day loaded in the warehouse."""
    (latest,) = connection.execute("select max(received_date) from marts.fct_events").fetchall()[0]
    if latest is None:
        raise LookupError("the warehouse holds no events: run the pipeline (make pipeline) before the models")
    return latest


def scoring_date(connection: duckdb.DuckDBPyConnection) -> date:
    """``data_through`` + 1 day: "as of now" for scoring and serving (every loaded event is before it)."""
    return data_through(connection) + timedelta(days=1)


def first_provisional_day(connection: duckdb.DuckDBPyConnection) -> date:
    """The first event day that may still gain late events: ``dim_date``'s, so the rule lives in the warehouse
    and follows the ANALYTICS_PROVISIONAL_DAYS it was built with; the day after ``data_through`` when no day is
    provisional."""
    (first,) = connection.execute("select min(date_day) from marts.dim_date where is_provisional").fetchall()[0]
    return first if first is not None else data_through(connection) + timedelta(days=1)


def in_churn_population(features: pd.DataFrame, settings: Settings) -> pd.Series:
    """Rows of :func:`ml.features.build_features` whose user had a (non-bot) session in the
    ``churn_activity_days`` days before their as-of date."""
    return features["days_since_last_session"] <= settings.churn_activity_days


def churn_population(connection: duckdb.DuckDBPyConnection, as_of: date, settings: Settings) -> pd.DataFrame:
    """``user_id`` of every user with a non-bot session in the ``churn_activity_days`` days before ``as_of``."""
    features = build_features(connection, as_of, inactivity_minutes=settings.session_inactivity_minutes)
    return features.loc[in_churn_population(features, settings), ["user_id"]].reset_index(drop=True)


def _check_closed(connection: duckdb.DuckDBPyConnection, as_of: date, horizon_days: int, settings: Settings,
                  variable: str) -> date:
    first_open = first_provisional_day(connection)
    if as_of + timedelta(days=horizon_days) > first_open:
        raise LabelWindowOpenError(
            f"the window [{as_of}, {as_of + timedelta(days=horizon_days)}) of as-of date {as_of} is not closed: "
            f"days from {first_open} are provisional (data through {data_through(connection)}, "
            f"ANALYTICS_PROVISIONAL_DAYS={settings.provisional_days}); pick an as-of date on or before "
            f"{first_open - timedelta(days=horizon_days)} or a shorter {variable}")
    return first_open


FUTURE_ACTIVITY_SQL = """
with users as (
    select unnest($user_ids::varchar[]) as user_id
),

now_keyed as (
    select users.user_id, coalesce(identity.user_key, users.user_id) as user_key
    from users
    left join intermediate.int_identities as identity on identity.linked_id = users.user_id
)

select
    now_keyed.user_id,
    count(activity.activity_date) > 0 as active,
    coalesce(sum(activity.revenue), 0)::double as revenue
from now_keyed
left join marts.fct_user_activity_daily as activity
    on activity.user_key = now_keyed.user_key and activity.is_active
   and activity.activity_date >= $window_start and activity.activity_date < $window_end
group by now_keyed.user_id
order by now_keyed.user_id
"""


def _future_activity(connection: duckdb.DuckDBPyConnection, user_ids: list[str], start: date, days: int) -> pd.DataFrame:
    """Per user: any non-bot activity, and order revenue, in ``[start, start + days)``."""
    return connection.execute(FUTURE_ACTIVITY_SQL, {
        "user_ids": user_ids, "window_start": start, "window_end": start + timedelta(days=days)}).df()


def churn_labels(connection: duckdb.DuckDBPyConnection, as_of: date, settings: Settings,
                 population: pd.DataFrame | None = None) -> pd.DataFrame:
    """``user_id``, ``churned``: each user of the churn population at ``as_of`` (or of ``population``, its
    ``user_id``s when the caller has them) and whether they had no session in
    ``[as_of, as_of + churn_horizon_days)``; :class:`LabelWindowOpenError` while that window is open."""
    _check_closed(connection, as_of, settings.churn_horizon_days, settings, "ANALYTICS_CHURN_HORIZON_DAYS")
    if population is None:
        population = churn_population(connection, as_of, settings)
    future = _future_activity(connection, population["user_id"].tolist(), as_of, settings.churn_horizon_days)
    return pd.DataFrame({"user_id": future["user_id"].astype(str), "churned": ~future["active"].astype(bool)})


def ltv_targets(connection: duckdb.DuckDBPyConnection, as_of: date, settings: Settings,
                users: pd.Series | None = None) -> pd.DataFrame:
    """``user_id``, ``future_revenue`` (reporting currency, ``[as_of, as_of + ltv_horizon_days)``) and
    ``observed_days`` (how many days of that window are closed) for every user seen before ``as_of`` (or for
    ``users``, their ``user_id``s when the caller built their features already)."""
    first_open = first_provisional_day(connection)
    observed = max(0, min(settings.ltv_horizon_days, (first_open - as_of).days))
    if users is None:
        users = build_features(connection, as_of, inactivity_minutes=settings.session_inactivity_minutes)["user_id"]
    future = _future_activity(connection, users.tolist(), as_of, observed)
    return pd.DataFrame({"user_id": future["user_id"].astype(str), "future_revenue": future["revenue"],
                         "observed_days": observed})


def snapshot_dates(connection: duckdb.DuckDBPyConnection, horizon_days: int, as_of: date | None = None,
                   every_days: int = 7) -> list[date]:
    """Dates every ``every_days`` days, oldest first, whose window ``[date, date + horizon_days)`` closed on or
    before ``as_of`` (by default, and at the latest, the first provisional day), after the first event day."""
    first_open = first_provisional_day(connection)
    end = min(as_of, first_open) if as_of else first_open
    (first_day,) = connection.execute("select min(event_date) from marts.fct_events").fetchall()[0]
    latest = end - timedelta(days=horizon_days)
    dates = []
    while first_day is not None and latest > first_day:
        dates.append(latest)
        latest -= timedelta(days=every_days)
    return dates[::-1]
