"""How far behind each layer is: the landing zone receives data, bronze and the warehouse hold yesterday.

- ``landing/events``: the newest sealed landing file was sealed at most ``ANALYTICS_LANDING_MAX_SILENCE_MINUTES``
  ago. The collector seals a file at the latest ``ANALYTICS_LANDING_MAX_FILE_AGE_SECONDS`` after it opened
  it, so a longer silence means no events arrive (a dead collector, a broken tracker, a cut network).
- ``bronze/events`` and ``marts/fct_events`` (the served warehouse): the newest arrival day they hold ended at
  most a day ago, plus ``DAILY_RUN_GRACE`` for the daily run that loads it (00:30 UTC). An arrival day still
  filling (loaded by the landing sensor during the day) counts as ending now.

Each measure reads the data itself (the lake's folders, the served warehouse), not Dagster's records, so it
says what readers see, also when something was loaded outside Dagster.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from analytics_settings import Settings
from data_quality.lake import connection, glob, lake_uri
from lake import LakeReader

DAILY_RUN_GRACE = timedelta(hours=3)
BEHIND_AT_MOST = timedelta(days=1)


@dataclass(frozen=True)
class Freshness:
    """``newest`` is how recent the layer's data is (None when it holds none); ``lag`` is ``checked_at``
    minus it; the layer is fresh when the lag is at most ``max_lag``. ``detail`` says what was read."""

    asset: str
    newest: datetime | None
    checked_at: datetime
    max_lag: timedelta
    detail: str

    @property
    def lag(self) -> timedelta | None:
        return None if self.newest is None else max(self.checked_at - self.newest, timedelta(0))

    @property
    def fresh(self) -> bool:
        return self.lag is not None and self.lag <= self.max_lag

    @property
    def summary(self) -> str:
        limit = f"at most {_hours(self.max_lag)} allowed"
        if self.lag is None:
            return f"{self.asset}: no data yet ({self.detail}); {limit}"
        verdict = "fresh" if self.fresh else "STALE"
        return f"{self.asset} {verdict}: {self.detail}, {_hours(self.lag)} behind; {limit}"


def landing_freshness(settings: Settings, now: datetime | None = None) -> Freshness:
    """The landing zone receives data: a landing file was sealed in the last ANALYTICS_LANDING_MAX_SILENCE_MINUTES."""
    now = now or datetime.now(UTC)
    # a file's modification time is when it was sealed (renamed): the newest says when data last arrived
    files = [info for day in LakeReader.open(settings.lake_root).sealed_landing_files().values() for info in day]
    newest = max((info.mtime for info in files), default=None)
    sealed = None if newest is None else newest.astimezone(UTC)
    detail = f"newest sealed landing file at {sealed:%Y-%m-%d %H:%M:%S} UTC" if sealed else "no sealed landing file"
    return Freshness("landing/events", sealed, now, timedelta(minutes=settings.landing_max_silence_minutes), detail)


def bronze_freshness(settings: Settings, now: datetime | None = None) -> Freshness:
    """Bronze is at most a day behind: it holds yesterday's arrival day (3 h of grace for the daily run)."""
    with connection(settings) as con:
        folders = glob(con, lake_uri(settings, "bronze", "events", "event_date=*", "received_date=*", "*.parquet"))
    days = {path.rsplit("received_date=", 1)[1].split("/", 1)[0] for path in folders}
    return _arrival_day_freshness("bronze/events", max(days, default=None), "bronze", now)


def warehouse_freshness(settings: Settings, now: datetime | None = None) -> Freshness:
    """The served warehouse is at most a day behind: marts.fct_events holds yesterday's arrival day (3 h of grace
    for the daily run)."""
    if not settings.served_warehouse.exists():
        return _arrival_day_freshness("marts/fct_events", None, f"the served warehouse ({settings.served_warehouse})",
                                      now)
    with connection(settings, settings.served_warehouse) as con:
        [(newest,)] = con.execute("SELECT max(received_date)::VARCHAR FROM marts.fct_events").fetchall()
    return _arrival_day_freshness("marts/fct_events", newest, "the served warehouse", now)


FRESHNESS: dict[str, Callable[[Settings], Freshness]] = {
    "landing/events": landing_freshness, "bronze/events": bronze_freshness, "marts/fct_events": warehouse_freshness}


def _arrival_day_freshness(asset: str, newest_day: str | None, where: str, now: datetime | None) -> Freshness:
    now = now or datetime.now(UTC)
    if newest_day is None:
        return Freshness(asset, None, now, BEHIND_AT_MOST + DAILY_RUN_GRACE, f"{where} holds no arrival day")
    day_end = datetime.combine(date.fromisoformat(newest_day) + timedelta(days=1), datetime.min.time(), UTC)
    return Freshness(asset, min(day_end, now), now, BEHIND_AT_MOST + DAILY_RUN_GRACE,
                     f"{where} holds arrival days up to {newest_day}")


def _hours(span: timedelta) -> str:
    hours = span / timedelta(hours=1)
    return f"{hours * 60:.0f} min" if hours < 2 else f"{hours:.1f} h"
