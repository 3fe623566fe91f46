"""Population stability index and the retraining rules, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analytics_settings import load_settings
from ml.drift import SCORE, feature_drift, population_stability_index, retraining_reasons


def test_numeric_psi_over_the_reference_quantiles():
    # bins=2: the reference's median 2.5 is the edge; reference shares 1/2, 1/2; current 3/4 (1, 1, 1) and 1/4 (4).
    psi = population_stability_index(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([1.0, 1.0, 1.0, 4.0]), bins=2)
    assert psi == pytest.approx(0.25 * math.log(1.5) + 0.25 * math.log(2))  # 0.274653


def test_a_value_on_an_edge_falls_in_the_lower_bin_and_missing_values_are_a_bin():
    # Edge 2.5 again; current: 2.5 (lower bin), 3 (upper), NaN, NaN -> shares 1/4, 1/4, 1/2 against 1/2, 1/2, 0
    # (an empty bin counts as 1e-4).
    psi = population_stability_index(pd.Series([1.0, 2.0, 3.0, 4.0]), pd.Series([2.5, 3.0, np.nan, np.nan]), bins=2)
    expected = 2 * (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi == pytest.approx(expected)


def test_categorical_psi_by_value():
    reference = pd.Series(["free", "free", "pro", "pro"], dtype="category")
    current = pd.Series(["free", "free", "free", "enterprise"], dtype="category")
    # free 1/2 -> 3/4, pro 1/2 -> 0 (1e-4), enterprise 0 (1e-4) -> 1/4
    expected = ((0.75 - 0.5) * math.log(0.75 / 0.5) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
                + (0.25 - 1e-4) * math.log(0.25 / 1e-4))
    assert population_stability_index(reference, current) == pytest.approx(expected)


def test_the_same_distribution_does_not_drift():
    values = pd.Series(np.arange(1000, dtype=float))
    assert population_stability_index(values, values.sample(frac=1, random_state=3)) == 0.0
    frame = pd.DataFrame({"a": values, "b": values * 2})
    assert feature_drift(frame, frame, ["a", "b"]) == {"a": 0.0, "b": 0.0}


def test_retraining_is_requested_for_the_score_a_top_feature_or_an_old_champion():
    settings = load_settings(drift_psi_threshold=0.2, champion_max_age_days=7)
    psi = {SCORE: 0.05, "days_since_last_session": 0.31, "country_code": 0.9}
    # country_code drifted but is not a top feature: it does not count.
    assert retraining_reasons(psi, ["days_since_last_session"], 2.0, settings) == [
        "PSI of days_since_last_session is 0.310 (> 0.2)"]
    assert retraining_reasons({SCORE: 0.25}, [], 7.5, settings) == [
        "PSI of churn_probability is 0.250 (> 0.2)", "the champion is 7.5 days old (> 7)"]
    assert retraining_reasons({SCORE: 0.2}, [], 7.0, settings) == []
