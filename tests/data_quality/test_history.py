"""Bounds from history, computed by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest

from data_quality.history import NEW_LEVEL_DAYS, VolumeBand, bootstrap_band, open_day_cutoff, volume_band


def test_the_history_of_a_day_is_its_weekday_the_days_before_it_and_their_weekdays():
    from data_quality.history import volume_history_days

    days = volume_history_days(date(2024, 3, 25))
    assert days[:6] == [date(2024, 3, 18), date(2024, 3, 11), date(2024, 3, 4),
                        date(2024, 3, 24), date(2024, 3, 23), date(2024, 3, 22)]
    assert days[6:9] == [date(2024, 3, 17), date(2024, 3, 10), date(2024, 3, 3)]  # the Sundays before the 24th
    assert len(days) == 15


DAY = date(2024, 3, 25)  # a Monday


def counts(weeks: tuple[int | None, int | None, int | None], recent: tuple[int, int, int],
           recent_weeks: int | None = None) -> dict[date, int | None]:
    """Counts of DAY's weekday 1, 2, 3 weeks back, of the 1, 2, 3 days before it, and (``recent_weeks``) of
    those days' weekdays in the three weeks before them."""
    history = {DAY - timedelta(days=back): recent_weeks for back in range(8, 25)} if recent_weeks else {}
    return {**history, **{DAY - timedelta(weeks=i + 1): n for i, n in enumerate(weeks)},
            **{DAY - timedelta(days=i + 1): n for i, n in enumerate(recent)}}


def test_the_band_is_around_the_median_of_the_known_weeks():
    band = volume_band(DAY, counts((1000, 1200, 900), (1100, 950, 1000)), 0.7, 1.5)
    assert band == VolumeBand(baseline=1000, low=700, high=1500,
                              weeks={"2024-03-04": 900, "2024-03-11": 1200, "2024-03-18": 1000},
                              recent={"2024-03-22": 1000, "2024-03-23": 950, "2024-03-24": 1100}, new_level=False)
    two = volume_band(DAY, counts((1001, None, 2000), (1500, 1500, 1500)), 0.7, 1.5)
    assert (two.baseline, two.low, two.high, two.new_level) == (1500.5, 1050, 2251, False)


def test_no_band_with_fewer_than_two_weeks():
    assert volume_band(DAY, counts((1000, None, None), (200, 200, 200), 1000), 0.7, 1.5) is None


def test_a_level_the_last_days_held_below_their_own_weekdays_is_the_baseline():
    band = volume_band(DAY, counts((1000, 1000, 1000), (210, 190, 200), recent_weeks=1000), 0.7, 1.5)
    assert (band.baseline, band.low, band.high, band.new_level) == (200, 140, 300, True)
    # one low day among normal ones (a recovery, an outage) is no level: the weeks stay the baseline
    assert volume_band(DAY, counts((1000, 1000, 1000), (1000, 200, 200), 1000), 0.7, 1.5).baseline == 1000
    assert volume_band(DAY, counts((1000, 1000, 1000), (200, 200, 1000), 1000), 0.7, 1.5).baseline == 1000
    # days as low as usual for their weekdays (a quiet weekend before a Monday) are no level either
    assert volume_band(DAY, counts((1000, 1000, 1000), (210, 190, 200), recent_weeks=200), 0.7, 1.5).baseline == 1000
    # nor are days without two weeks of their own history (a new installation ramping up)
    assert volume_band(DAY, counts((1000, 1000, 1000), (210, 190, 200)), 0.7, 1.5).baseline == 1000


def test_a_lasting_5x_drop_warns_for_its_first_days_then_is_the_new_normal():
    """Ten weeks of a hand-made history with a weekly rhythm (weekends lower): at day 42 the volume falls to a
    fifth for good. Each day is checked against the band of the days before it, as the daily runs do."""
    start = date(2024, 1, 1)  # a Monday
    rhythm = [1000, 1040, 980, 1010, 990, 820, 760]  # Monday .. Sunday
    history = {start + timedelta(days=i): rhythm[i % 7] // (5 if i >= 42 else 1) for i in range(70)}
    outside = []
    for i in range(14, 70):
        day = start + timedelta(days=i)
        band = volume_band(day, history, 0.7, 1.5)
        if not band.low <= history[day] <= band.high:
            outside.append(i)
    assert outside == list(range(42, 42 + NEW_LEVEL_DAYS)) == [42, 43, 44]


def test_a_one_day_outage_warns_that_day_only():
    start = date(2024, 1, 1)
    history = {start + timedelta(days=i): 50 if i == 30 else 1000 for i in range(50)}
    outside = [i for i in range(14, 50)
               if not (band := volume_band(start + timedelta(days=i), history, 0.7, 1.5)).low
               <= history[start + timedelta(days=i)] <= band.high]
    assert outside == [30]


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
