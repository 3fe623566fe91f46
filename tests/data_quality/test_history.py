"""Bounds from history, computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from data_quality.history import VolumeBand, bootstrap_band, open_day_cutoff, same_weekday_days, volume_band


def test_the_same_weekday_of_the_three_weeks_before():
    assert same_weekday_days(date(2024, 3, 25)) == [date(2024, 3, 18), date(2024, 3, 11), date(2024, 3, 4)]


def test_the_band_is_around_the_median_of_the_known_weeks():
    band = volume_band({"2024-03-18": 1000, "2024-03-11": 1200, "2024-03-04": 900}, 0.7, 1.5, 0.25)
    assert band == VolumeBand(baseline=1000, low=700, high=1500, floor=250,
                              weeks={"2024-03-04": 900, "2024-03-11": 1200, "2024-03-18": 1000})
    two = volume_band({"2024-03-18": 1001, "2024-03-11": None, "2024-03-04": 2000}, 0.7, 1.5, 0.25)
    assert (two.baseline, two.low, two.high, two.floor) == (1500.5, 1050, 2251, 375)


def test_no_band_with_fewer_than_two_weeks():
    assert volume_band({"2024-03-18": 1000, "2024-03-11": None, "2024-03-04": None}, 0.7, 1.5, 0.25) is None


def test_an_open_day_is_counted_up_to_its_newest_arrival():
    day = date(2024, 3, 11)
    noon = datetime(2024, 3, 11, 12, tzinfo=UTC)
    assert open_day_cutoff(day, noon, datetime(2024, 3, 11, 11, 55)) == timedelta(hours=11, minutes=55)
    assert open_day_cutoff(day, noon, None) == timedelta(hours=12)
    # a day is over half an hour after midnight, when the collector has sealed its last files
    assert open_day_cutoff(day, datetime(2024, 3, 12, 0, 20, tzinfo=UTC),
                           datetime(2024, 3, 11, 23, 59)) == timedelta(hours=23, minutes=59)
    assert open_day_cutoff(day, datetime(2024, 3, 12, 0, 30, tzinfo=UTC), datetime(2024, 3, 11, 23, 59)) is None


def test_the_bootstrap_band_holds_the_statistic_of_samples_from_history_and_narrows_with_size():
    history = np.random.default_rng(1).exponential(100.0, size=5000)
    small = bootstrap_band(history, 20, np.median)
    large = bootstrap_band(history, 5000, np.median)
    true_median = np.median(history)
    assert small[0] < large[0] < true_median < large[1] < small[1]
    # for a large day the band is the sampling range widened by 25% on both sides
    assert large[0] == pytest.approx(true_median / 1.25, rel=0.1)
    assert large[1] == pytest.approx(true_median * 1.25, rel=0.1)
    assert bootstrap_band(history, 20, np.median) == small  # seeded: the same bounds every run


def test_the_bootstrap_band_widens_negative_values_outward():
    low, high = bootstrap_band(np.array([-10.0, -10.0]), 5, np.mean)
    assert (low, high) == (-12.5, -8.0)
