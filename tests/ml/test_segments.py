"""Segments: K chosen by silhouette, names from profiles, stable from one run to the next.

The unit tests draw users from four groups with known profiles; the last test segments the generated
warehouse twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml import training
from ml.population import scoring_date
from ml.registry import load_model
from ml.segments import KIND, SEGMENT_FEATURES, fit_segments, unique_names
from tests.conftest import MlWarehouse, warehouse_settings

# group -> (users, {feature: (low, high)}) drawn uniformly; unlisted features are 0
GROUPS = {
    "loyal buyers": (300, {"days_since_last_session": (0, 3), "days_since_first_seen": (40, 60),
                           "sessions_28d": (10, 16), "sessions_lifetime": (25, 40), "active_days_28d": (8, 14),
                           "events_28d": (80, 140), "avg_session_duration_seconds_28d": (200, 400),
                           "avg_pages_per_session_28d": (4, 8), "bounce_rate_28d": (0, 0.2),
                           "funnel_step_reached": (4, 4), "orders_lifetime": (3, 6), "revenue_lifetime": (150, 400)}),
    "fading": (250, {"days_since_last_session": (25, 40), "days_since_first_seen": (40, 60),
                     "sessions_28d": (0, 0), "sessions_lifetime": (2, 5), "active_days_28d": (0, 0),
                     "funnel_step_reached": (0, 1)}),
    "new, browsing": (200, {"days_since_last_session": (0, 2), "days_since_first_seen": (1, 4),
                            "sessions_28d": (1, 2), "sessions_lifetime": (1, 2), "active_days_28d": (1, 2),
                            "events_28d": (2, 8), "avg_session_duration_seconds_28d": (10, 60),
                            "avg_pages_per_session_28d": (1, 3), "bounce_rate_28d": (0.4, 1)}),
    "engaged browsers": (150, {"days_since_last_session": (0, 4), "days_since_first_seen": (40, 60),
                               "sessions_28d": (8, 14), "sessions_lifetime": (20, 35), "active_days_28d": (7, 12),
                               "events_28d": (60, 120), "avg_session_duration_seconds_28d": (150, 300),
                               "avg_pages_per_session_28d": (4, 7), "bounce_rate_28d": (0, 0.3),
                               "funnel_step_reached": (1, 3)}),
}


def users(seed: int) -> pd.DataFrame:
    """Feature rows of the four groups (column ``group`` is the truth), integers where the feature counts."""
    rng = np.random.default_rng(seed)
    frames = []
    for group, (count, ranges) in GROUPS.items():
        frame = pd.DataFrame({name: rng.uniform(*ranges.get(name, (0, 0)), count) for name in SEGMENT_FEATURES})
        counts = [name for name in SEGMENT_FEATURES if name.startswith(("days", "sessions", "active", "events",
                                                                         "funnel", "orders"))]
        frame[counts] = frame[counts].round()
        frames.append(frame.assign(group=group))
    return pd.concat(frames, ignore_index=True)


def test_k_is_chosen_by_silhouette_and_segments_are_named_from_their_profile() -> None:
    features = users(seed=1)
    model, scores = fit_segments(features)
    assert max(scores, key=scores.get) == 4 and sorted(scores) == [3, 4, 5, 6, 7, 8]
    assert sorted(model.names) == sorted(GROUPS)
    assert (model.predict(features) == features["group"]).all()


def test_the_profile_table_describes_each_segment_by_its_means() -> None:
    features = users(seed=1)
    trained = KIND.fit(features, date(2024, 5, 1), previous=None)
    table = trained.tables["segment_profiles"].set_index("segment")
    truth = features.groupby("group")
    assert table["users"].to_dict() == truth.size().to_dict()
    assert table.loc["loyal buyers", "buyer_share"] == 1.0 and table.loc["fading", "buyer_share"] == 0.0
    for column in ("days_since_last_session", "revenue_lifetime", "sessions_28d"):
        np.testing.assert_allclose(table[f"mean_{column}"], truth[column].mean().reindex(table.index))
    assert trained.figures["k"] == 4.0
    assert trained.figures["silhouette"] == pytest.approx(trained.figures["silhouette_k4"])
    assert KIND.fit(features, date(2024, 5, 1), previous=None).figures == trained.figures  # same seed, same figures


def test_names_are_kept_from_the_previous_champion() -> None:
    first, _ = fit_segments(users(seed=1))
    # a team renamed a segment in the champion: the next run on other users of the same groups keeps it
    renamed = replace(first, names=["dormant" if name == "fading" else name for name in first.names])
    features = users(seed=2)
    second, _ = fit_segments(features, previous=renamed)
    expected = features["group"].replace({"fading": "dormant"})
    assert (second.predict(features) == expected).all()
    assert sorted(fit_segments(features)[0].names) == sorted(GROUPS)  # without the champion: profile names


def test_a_segment_the_champion_did_not_have_is_named_afresh_and_uniquely() -> None:
    three = users(seed=1)
    three = three[three["group"] != "new, browsing"]
    previous, _ = fit_segments(three)
    previous = replace(previous, names=["new, browsing" if name == "fading" else name for name in previous.names])
    features = users(seed=2)
    model, _ = fit_segments(features, previous=previous)
    assert len(set(model.names)) == 4
    predicted = pd.Series(model.predict(features))
    assert set(predicted[features["group"] == "fading"]) == {"new, browsing"}  # inherited
    assert set(predicted[features["group"] == "new, browsing"]) == {"new, browsing 2"}  # fresh, made unique


def test_unique_names_number_repeats_by_size() -> None:
    assert unique_names(["fading", "fading", "loyal buyers"], np.array([10, 20, 5]), taken={"loyal buyers"}) == [
        "fading 2", "fading", "loyal buyers 2"]


def test_on_the_generated_warehouse_segments_repeat_and_keep_their_names_a_week_later(
        ml_warehouse: MlWarehouse, tmp_path: Path, empty_mlflow_store) -> None:
    empty_mlflow_store(tmp_path)
    settings = warehouse_settings(ml_warehouse.data_dir, ml_warehouse.data_dir / "lake", "warehouse")
    settings = settings.model_copy(update={"data_dir": tmp_path})  # an empty MLflow store: no champion yet
    with duckdb.connect(str(settings.served_warehouse), read_only=True) as connection:
        week_before = scoring_date(connection) - timedelta(days=7)
    first = training.run(KIND, settings, as_of=week_before)
    champion = load_model("segments", settings).model
    assert first.alias == "champion" and 3 <= first.figures["k"] <= 8
    again = KIND.train(settings, as_of=week_before)  # matched to the champion: itself
    assert again.params["matched_previous"] is True
    assert again.figures == first.figures and again.model.names == champion.names
    later = KIND.train(settings)
    print(first.figures, champion.names, later.params, later.figures, later.tables["segment_profiles"].to_string())
    print(fit_segments(later.training_data)[0].names)
    assert set(later.model.names) == set(champion.names)
