"""Bounds from history: a row-count band around the same weekday of earlier weeks, and the band a statistic
(median, mean) of a day's values takes on samples drawn from the days before it. Pure functions of numbers."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import median

import numpy as np

WEEKS_BACK = (1, 2, 3)
MIN_WEEKS = 2
# A level the last NEW_LEVEL_DAYS days all held is the new normal: a lasting 5× drop warns on its first
# NEW_LEVEL_DAYS days, then not.
NEW_LEVEL_DAYS = 3


@dataclass(frozen=True)
class VolumeBand:
    """The expected row count of a day: ``baseline`` is the median of the same weekday in earlier weeks
    (``weeks``), or the median of the last ``NEW_LEVEL_DAYS`` days (``recent``) when they held a new level
    (``new_level``)."""

    baseline: float
    low: int
    high: int
    weeks: dict[str, int]
    recent: dict[str, int]
    new_level: bool = False


def volume_history_days(day: date) -> list[date]:
    """The days whose counts ``volume_band`` reads for ``day``: the same weekday of earlier weeks, the days
    just before it, and the same weekday of earlier weeks of each of those."""
    recent = [day - timedelta(days=back) for back in range(1, NEW_LEVEL_DAYS + 1)]
    return [*_weeks_before(day), *recent, *(earlier for d in recent for earlier in _weeks_before(d))]


def volume_band(day: date, counts: Mapping[date, int | None], low: float, high: float) -> VolumeBand | None:
    """The band ``[low, high] × baseline`` for ``day`` from the row counts of earlier days (None for a day
    without data); None with fewer than ``MIN_WEEKS`` weeks of the same weekday.

    The weekly median follows the week's rhythm (weekends, Mondays). A change that lasts (a campaign that
    ended) would fail it every day for three weeks, until the median catches up; so when each of the last
    ``NEW_LEVEL_DAYS`` days lay outside the band of its own weekday, on the same side as today's band, their
    median is the baseline. Each day is judged against its own weekday, so a weekend followed by a Monday is
    no new level; days without two weeks of their own history confirm nothing.
    """
    weekly, weeks = _weekly(day, counts)
    if weekly is None:
        return None
    recent = {d: counts[d] for d in (day - timedelta(days=back) for back in range(1, NEW_LEVEL_DAYS + 1))
              if counts.get(d) is not None}
    new_level = False
    if len(recent) == NEW_LEVEL_DAYS:
        level = median(recent.values())
        side = -1 if level < low * weekly else 1 if level > high * weekly else 0
        new_level = side != 0 and all(_outside(count, _weekly(d, counts)[0], low, high) == side
                                      for d, count in recent.items())
    baseline = median(recent.values()) if new_level else weekly
    return VolumeBand(baseline=baseline, low=math.floor(baseline * low), high=math.ceil(baseline * high),
                      weeks=weeks, recent={d.isoformat(): c for d, c in sorted(recent.items())}, new_level=new_level)


def _weeks_before(day: date) -> list[date]:
    return [day - timedelta(weeks=weeks) for weeks in WEEKS_BACK]


def _weekly(day: date, counts: Mapping[date, int | None]) -> tuple[float | None, dict[str, int]]:
    """The median of ``day``'s weekday in earlier weeks (None with fewer than ``MIN_WEEKS``), and those counts."""
    weeks = {d.isoformat(): counts[d] for d in sorted(_weeks_before(day)) if counts.get(d) is not None}
    return (median(weeks.values()) if len(weeks) >= MIN_WEEKS else None), weeks


def _outside(count: int, weekly: float | None, low: float, high: float) -> int:
    """-1 below the band of ``weekly``, 1 above, 0 inside or without a weekly median."""
    if weekly is None:
        return 0
    return -1 if count < low * weekly else 1 if count > high * weekly else 0


def open_day_cutoff(day: date, now: datetime, newest_arrival: datetime | None,
                    grace: timedelta = timedelta(minutes=30)) -> timedelta | None:
    """How much of ``day`` a partition holds when the day is not over (the time of its newest arrival), so
    earlier weeks are counted up to the same time; None when the day is over (``grace`` after midnight, for
    the last landing files to be sealed)."""
    start = datetime.combine(day, time(), tzinfo=now.tzinfo)
    if now >= start + timedelta(days=1) + grace:
        return None
    if newest_arrival is None:
        return now - start if now > start else timedelta(0)
    newest = newest_arrival if newest_arrival.tzinfo else newest_arrival.replace(tzinfo=now.tzinfo)
    return min(max(newest - start, timedelta(0)), timedelta(days=1))


def bootstrap_band(history: np.ndarray, sample_size: int, statistic: Callable[..., np.ndarray], *,
                   resamples: int = 2000, confidence: float = 0.999, tolerance: float = 1.25,
                   max_sample: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """The range ``statistic`` (``np.median``, ``np.mean``; called with ``axis=1``) of ``sample_size`` values
    drawn from ``history`` falls in with probability ``confidence`` (a bootstrap), widened by the factor
    ``tolerance`` on both sides for the day-to-day drift the bootstrap does not see.

    A small day gets a wide band (its statistic is noisy), a big day a narrow one. Samples larger than
    ``max_sample`` are bootstrapped at ``max_sample``, which only widens the band. Cost: ``resamples`` ×
    ``min(sample_size, max_sample)`` draws, in chunks of 100 resamples to bound memory.
    """
    values = np.asarray(history, dtype=float)
    size = max(1, min(sample_size, max_sample))
    rng = np.random.default_rng(seed)
    estimates = np.concatenate([
        statistic(rng.choice(values, size=(min(100, resamples - start), size), replace=True), axis=1)
        for start in range(0, resamples, 100)])
    tail = (1 - confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return _widen(low, 1 / tolerance), _widen(high, tolerance)


def _widen(value: float, factor: float) -> float:
    """``value`` moved away from the band's middle: a factor > 1 grows positive values and shrinks negative
    ones, and the other way round; zero stays zero."""
    scaled = value * factor if value >= 0 else value / factor
    return round(float(scaled), 6)
