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
# A level the last NEW_LEVEL_DAYS days all held (each within the band around their median) is the new
# normal once it leaves the weekly band: a lasting 5× drop warns on its first NEW_LEVEL_DAYS days, then not.
NEW_LEVEL_DAYS = 3


@dataclass(frozen=True)
class VolumeBand:
    """The expected row count of a day: ``baseline`` is the median of the same weekday in earlier weeks
    (``weeks``), or the median of the last ``NEW_LEVEL_DAYS`` days (``recent``) when they held a level outside
    the weekly band (``new_level``)."""

    baseline: float
    low: int
    high: int
    weeks: dict[str, int]
    recent: dict[str, int]
    new_level: bool = False


def volume_history_days(day: date) -> list[date]:
    """The days whose counts ``volume_band`` reads for ``day``: the same weekday of earlier weeks, then the
    days just before it."""
    return [*(day - timedelta(weeks=weeks) for weeks in WEEKS_BACK),
            *(day - timedelta(days=back) for back in range(1, NEW_LEVEL_DAYS + 1))]


def volume_band(day: date, counts: Mapping[date, int | None], low: float, high: float) -> VolumeBand | None:
    """The band ``[low, high] × baseline`` for ``day`` from the row counts of earlier days (None for a day
    without data); None with fewer than ``MIN_WEEKS`` weeks of the same weekday.

    The weekly median follows the week's rhythm (weekends, Mondays); the recent level follows a change that
    lasts (a campaign that ended): without it a lasting drop would fail every day for three weeks, until
    the weekly median catches up. Days of different weekdays make the recent level, so with a strong weekly
    rhythm a new level is accepted once ``NEW_LEVEL_DAYS`` days agree within the band.
    """
    def known(days: list[date]) -> dict[str, int]:
        return {d.isoformat(): counts[d] for d in sorted(days) if counts.get(d) is not None}

    days = volume_history_days(day)
    weeks, recent = known(days[:len(WEEKS_BACK)]), known(days[len(WEEKS_BACK):])
    weekly = median(weeks.values()) if len(weeks) >= MIN_WEEKS else None
    level = median(recent.values()) if len(recent) == NEW_LEVEL_DAYS else None
    held = level is not None and all(low * level <= count <= high * level for count in recent.values())
    if weekly is None:
        return None
    new_level = held and not low * weekly <= level <= high * weekly
    baseline = level if new_level else weekly
    return VolumeBand(baseline=baseline, low=math.floor(baseline * low), high=math.ceil(baseline * high),
                      weeks=weeks, recent=recent, new_level=new_level)


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
