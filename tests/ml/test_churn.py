"""Churn on the ML dataset: out-of-time evaluation against the recency baseline, agreement with the
generator's truth, explanations that add up, and a run that repeats itself."""

from __future__ import annotations

import pickle
from datetime import timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from collector.generator.catalog import WEEKDAY_FACTORS
from ml import churn
from ml.churn import KIND, ChurnModel, Explanation, fit, labeled_snapshots, risk_band, top_factors
from ml.features import CATEGORICAL_FEATURES, FEATURE_NAMES
from ml.population import snapshot_dates
from tests.conftest import ML, MlWarehouse, warehouse_settings

# the ml_warehouse fixture costs ~3 minutes on a quiet 2-core machine, and its setup counts in the first test's
# timeout: room for a busy one
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
ML_HORIZON_DAYS = 14  # ANALYTICS_CHURN_HORIZON_DAYS's default, which the settings below keep


@pytest.fixture(scope="module")
def settings(ml_warehouse: MlWarehouse):
    return warehouse_settings(ml_warehouse.data_dir, ml_warehouse.data_dir / "lake", "warehouse")


@pytest.fixture(scope="module")
def snapshots(ml_warehouse: MlWarehouse, settings) -> pd.DataFrame:
    with duckdb.connect(str(ml_warehouse.served), read_only=True) as connection:
        dates = snapshot_dates(connection, settings.churn_horizon_days)
        return labeled_snapshots(connection, dates, settings)


@pytest.fixture(scope="module")
def trained(settings):
    return KIND.train(settings)


def test_snapshots_are_weekly_and_out_of_time(trained, snapshots: pd.DataFrame) -> None:
    # nine weeks of events, arrival through day 68: days from 2024-03-04 are provisional, so the last label
    # window [2024-02-19, 2024-03-04) closed and the snapshots go back weekly to the second week
    expected = [ML.start + timedelta(days=49 - 7 * k) for k in range(7)][::-1]
    assert trained.snapshot_dates == expected
    assert trained.evaluation_date == expected[-1]
    assert set(trained.training_data["as_of_date"]) == set(expected[:-2])
    assert set(trained.evaluation_data["as_of_date"]) == {expected[-1]}
    assert trained.params["validation_date"] == str(expected[-2])
    assert sorted(snapshots["as_of_date"].unique()) == expected
    assert (snapshots["days_since_last_session"] <= 28).all()


def test_churn_beats_the_recency_baseline_and_the_bar(trained) -> None:
    figures, baseline = trained.figures, trained.baseline_figures
    assert figures["roc_auc"] >= 0.75
    assert figures["roc_auc"] > baseline["roc_auc"]
    assert trained.gate_failures == []
    assert set(figures) == set(baseline) == {"roc_auc", "pr_auc", "brier", "log_loss", "top_decile_lift",
                                             "top_decile_recall", "churn_rate", "rows"}
    assert figures["rows"] == len(trained.evaluation_data) == baseline["rows"]
    assert figures["top_decile_lift"] > 1.5
    table = trained.tables["calibration"]
    assert table["rows"].sum() == figures["rows"]
    # calibrated out of sample: each decile's mean prediction within 0.15 of its observed churn rate
    assert (table["mean_predicted"] - table["observed_rate"]).abs().max() < 0.15
    assert set(trained.plots) == {"roc_pr.png", "calibration.png", "feature_importance.png"}


def test_the_figures_are_those_of_the_evaluation_window(trained) -> None:
    evaluation = trained.evaluation_data
    churned = evaluation["churned"].to_numpy(dtype=int)
    probability = trained.model.predict(evaluation)
    ranked = np.argsort(-probability, kind="stable")
    top = ranked[:int(np.ceil(len(ranked) / 10))]
    # by hand: the top decile's churn rate over the overall rate, its share of all churners
    assert trained.figures["top_decile_lift"] == pytest.approx(churned[top].mean() / churned.mean())
    assert trained.figures["top_decile_recall"] == pytest.approx(churned[top].sum() / churned.sum())
    assert trained.figures["brier"] == pytest.approx(np.mean((probability - churned) ** 2))
    pairs = [(p, n) for p in probability[churned == 1] for n in probability[churned == 0]]
    assert trained.figures["roc_auc"] == pytest.approx(np.mean([(p > n) + 0.5 * (p == n) for p, n in pairs]))
    assert KIND.evaluate(trained.model, evaluation) == trained.figures


def test_scores_agree_with_the_generator_truth(trained, ml_warehouse: MlWarehouse) -> None:
    """The generator drew each visitor's churn date (when they stop for good) and session rate: the true
    chance of no session in the label window is 1 for a visitor it stopped before the window ends, else the
    Poisson chance of 14 silent days at their rate (times the mean weekday factor). The scores must rank
    with it. (The drawn churn *probability* ranks poorly, about 0.1: it is the chance of ever stopping in
    the nine weeks, and by the evaluation date most who drew a high one have stopped and left the
    population.)"""
    users = pd.read_parquet(ml_warehouse.truth / "users.parquet")
    evaluated_at = pd.Timestamp(trained.evaluation_date, tz="UTC")
    # keyed as known at the evaluation date: the user id once signed up, the anonymous id before
    users["user_id"] = users["user_id"].where(users["signup_at"] < evaluated_at, users["anonymous_ids"].str[0])
    evaluation = trained.evaluation_data.assign(score=trained.model.predict(trained.evaluation_data))
    scored = evaluation.merge(users.drop(columns="churned"), on="user_id")
    assert len(scored) > 0.95 * len(evaluation)
    window_end = trained.evaluation_date + timedelta(days=ML_HORIZON_DAYS)
    stops = scored["churn_date"].notna() & (pd.to_datetime(scored["churn_date"]).dt.date < window_end)
    silent = np.exp(-ML_HORIZON_DAYS * scored["sessions_per_day_rate"] * np.mean(WEEKDAY_FACTORS))
    true_probability = np.where(stops, 1.0, silent)
    correlation = spearmanr(scored["score"], true_probability).statistic
    drawn = spearmanr(scored["score"], scored["churn_probability"]).statistic
    print(f"on {len(scored)} users: Spearman(score, true silence probability) {correlation:.3f}; ROC AUC for "
          f"'stopped before the window ended' {roc_auc_score(stops, scored['score']):.3f}; "
          f"Spearman(score, drawn churn probability) {drawn:.3f}")
    assert correlation > 0.65  # 0.744 with this seed
    assert roc_auc_score(stops, scored["score"]) > 0.7  # 0.776


def test_explanations_add_up_to_the_raw_score(trained) -> None:
    rows = trained.evaluation_data.head(50)
    explanation = trained.model.explain(rows)
    assert isinstance(explanation, Explanation)
    assert list(explanation.contributions.columns) == trained.model.feature_names
    np.testing.assert_allclose(explanation.contributions.sum(axis=1) + explanation.expected_value,
                               explanation.raw_score, atol=1e-9)
    np.testing.assert_allclose(explanation.raw_score, trained.model.raw_score(rows), atol=1e-12)
    probability = trained.model.predict(rows)
    assert np.all(np.diff(probability[np.argsort(explanation.raw_score)]) >= 0)  # calibration keeps the order

    row = int(np.argmax(probability))
    factors = top_factors(explanation, rows)[row]
    assert len(factors) == 3
    assert [abs(f.contribution) for f in factors] == sorted((abs(f.contribution) for f in factors), reverse=True)
    assert abs(factors[0].contribution) == explanation.contributions.iloc[row].abs().max()
    for factor in factors:
        assert factor.direction == ("raises" if factor.contribution > 0 else "lowers")
        assert factor.text.endswith(f"{factor.direction} the churn risk")
    recency = rows["days_since_last_session"].iloc[row]
    words = top_factors(explanation, rows, n=len(trained.model.feature_names))[row]
    assert any(f.text.startswith(f"no session for {recency:g} days") for f in words)
    assert [risk_band(p) for p in (0.0, 0.249, 0.25, 0.499, 0.5, 1.0)] == ["low", "low", "medium", "medium",
                                                                          "high", "high"]


def test_same_data_and_seed_give_the_same_model_and_figures(trained, snapshots: pd.DataFrame, settings) -> None:
    dates = trained.snapshot_dates
    training = snapshots[snapshots["as_of_date"] < dates[-2]]
    validation = snapshots[snapshots["as_of_date"] == dates[-2]]
    evaluation = snapshots[snapshots["as_of_date"] == dates[-1]].reset_index(drop=True)
    pd.testing.assert_frame_equal(evaluation, trained.evaluation_data)
    again = fit(training, validation)
    assert again.model.booster.model_to_string() == trained.model.booster.model_to_string()
    assert KIND.evaluate(again.model, evaluation) == trained.figures
    assert KIND.evaluate(again.baseline, evaluation) == trained.baseline_figures


def test_the_model_survives_pickling(trained) -> None:
    restored: ChurnModel = pickle.loads(pickle.dumps(trained.model))
    rows = trained.evaluation_data.head(20)
    np.testing.assert_array_equal(restored.predict(rows), trained.model.predict(rows))
    assert restored.kind == "churn" and restored.feature_set_version == churn.FEATURE_SET_VERSION
    # one row posted alone (its categoricals plain strings, one category each) scores as in the batch:
    # LightGBM maps categories by the training's names, not by codes
    posted = rows[FEATURE_NAMES].astype({name: object for name in CATEGORICAL_FEATURES})
    alone = [restored.predict(posted.iloc[[i]])[0] for i in range(len(posted))]
    np.testing.assert_array_equal(alone, trained.model.predict(rows))
