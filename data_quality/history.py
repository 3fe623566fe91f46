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


@dataclass(frozen=True)
class VolumeBand:
    """The expected row count of a day: ``baseline`` is the median of the same weekday in earlier weeks."""

    baseline: float
    low: int
    high: int
    floor: int
    weeks: dict[str, int]


def same_weekday_days(day: date) -> list[date]:
    return [day - timedelta(weeks=weeks) for weeks in WEEKS_BACK]


def volume_band(weeks: Mapping[str, int | None], low: float, high: float, floor: float) -> VolumeBand | None:
    """The band ``[low, high] × baseline`` and the floor ``floor × baseline``, from the counts of the same
    weekday in earlier weeks (None for a week without data); None with fewer than ``MIN_WEEKS`` weeks."""
    known = {day: count for day, count in weeks.items() if count is not None}
    if len(known) < MIN_WEEKS:
        return None
    baseline = median(known.values())
    return VolumeBand(baseline=baseline, low=math.floor(baseline * low), high=math.ceil(baseline * high),
                      floor=math.floor(baseline * floor), weeks=dict(sorted(known.items())))


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
