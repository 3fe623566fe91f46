"""Churn: who of the active users will have no session in the next ``ANALYTICS_CHURN_HORIZON_DAYS`` days.

The experiment, as a report reads it:

1. **Data** (:func:`labeled_snapshots`): weekly snapshot dates whose label window closed; at each, the churn
   population (a non-bot session in the ``ANALYTICS_CHURN_ACTIVITY_DAYS`` before it), its features as of the
   date and its label. Out of time, never a random split: the latest snapshot is the evaluation window, the
   one before it the validation window, the others train.
2. **Model** (:func:`fit`): LightGBM (deterministic, fixed seed and threads) with early stopping on the
   validation window, then Platt scaling of its raw score fitted on that window (out of sample for the
   trees; monotone, so it calibrates without changing the ranking).
3. **Evaluation** (:func:`churn_figures`): ROC AUC, PR AUC, Brier score, log loss, lift and recall in the
   top decile and a calibration table, for the model and for the recency-only baseline (days since the last
   session, Platt-scaled on the same validation window), on the same evaluation window.
4. **Gates**: ROC AUC at least ``ANALYTICS_CHURN_MIN_AUC`` and above the baseline's.

MLflow stays out of this module: :data:`KIND` hands a ``TrainedModel`` to ``ml.training``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

import duckdb
import lightgbm as lgb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    log_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from analytics_settings import Settings
from ml.features import (
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    FEATURES_BY_NAME,
    build_features,
    model_input,
    read_warehouse,
)
from ml.population import churn_labels, in_churn_population, snapshot_dates

if TYPE_CHECKING:
    from ml.registry import TrainedModel

SEED = 14
# deterministic=True and a fixed thread count make a run reproducible bit for bit (LightGBM's histogram
# sums depend on the thread split otherwise); row-wise histograms skip its timing-based choice.
LIGHTGBM_PARAMS = {
    "objective": "binary", "learning_rate": 0.03, "num_leaves": 4,
    "feature_fraction": 0.9, "lambda_l2": 1.0, "seed": SEED, "deterministic": True, "num_threads": 2,
    "force_row_wise": True, "verbose": -1,
}
# Leaves of at least 100 users (a leaf's churn rate is then a rate, not an anecdote); a small product's few
# hundred users get leaves of a twentieth of them instead of a single constant prediction.
MAX_MIN_DATA_IN_LEAF = 100
MAX_ROUNDS = 1000
EARLY_STOPPING_ROUNDS = 50
BASELINE_FEATURE = "days_since_last_session"
MEDIUM_RISK, HIGH_RISK = 0.25, 0.5  # risk bands: [0, 0.25) low, [0.25, 0.5) medium, [0.5, 1] high
LABEL = "churned"
# Predictions on one thread: for the API's few rows, waking a second OpenMP thread cost more than the trees
# (one user's pred_contrib: p50 31 -> 11 ms on a busy 2-core machine); rows are independent, so the scores
# are the same, and scoring every user stays within seconds.
PREDICT_THREADS = 1


@dataclass(frozen=True)
class Explanation:
    """LightGBM's own attribution of each raw (log-odds) score: ``contributions.sum(1) + expected_value``
    equals ``raw_score`` row by row."""

    contributions: pd.DataFrame  # rows x feature names
    expected_value: np.ndarray
    raw_score: np.ndarray


@dataclass(frozen=True)
class Factor:
    feature: str
    value: object
    contribution: float
    direction: Literal["raises", "lowers"]
    text: str


class PlattScaling:
    """A probability from a score: a one-feature logistic regression fitted out of sample."""

    def __init__(self, scores: np.ndarray, labels: np.ndarray):
        self.regression = LogisticRegression(C=1e6).fit(_column(scores), labels.astype(int))

    def __call__(self, scores: np.ndarray) -> np.ndarray:
        return self.regression.predict_proba(_column(scores))[:, 1]


def _column(scores: np.ndarray) -> np.ndarray:
    return np.nan_to_num(np.asarray(scores, dtype="float64")).reshape(-1, 1)


def _inputs(features: pd.DataFrame) -> pd.DataFrame:
    """The feature columns of ``features`` (ids, labels and scores beside them are ignored), validated."""
    return model_input(features[[column for column in features.columns if column in FEATURES_BY_NAME]])


class ChurnModel:
    """The churn model as it is logged and served: calibrated probabilities and their explanations."""

    kind = "churn"

    def __init__(self, booster: lgb.Booster, calibration: PlattScaling):
        self.booster = booster
        self.calibration = calibration
        self.feature_set_version = FEATURE_SET_VERSION
        self.feature_names = list(FEATURE_NAMES)

    def raw_score(self, features: pd.DataFrame) -> np.ndarray:
        return self.booster.predict(_inputs(features), raw_score=True, num_threads=PREDICT_THREADS)

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """The probability that each row's user has no session in the churn horizon from its as-of date."""
        return self.probability(self.raw_score(features))

    def probability(self, raw_score: np.ndarray) -> np.ndarray:
        """The calibrated probability of raw scores (an explanation's: no second pass over the trees)."""
        return self.calibration(raw_score)

    def explain(self, features: pd.DataFrame) -> Explanation:
        contributions = self.booster.predict(_inputs(features), pred_contrib=True, num_threads=PREDICT_THREADS)
        # The raw score is the sum of the contributions and the bias (to ~1e-15): a second pass over the
        # trees would cost as much again.
        return Explanation(pd.DataFrame(contributions[:, :-1], columns=self.feature_names, index=features.index),
                           contributions[:, -1], contributions.sum(axis=1))


class RecencyBaseline:
    """The baseline every churn model must beat: the days since the last session, Platt-scaled."""

    kind = "churn"

    def __init__(self, calibration: PlattScaling):
        self.calibration = calibration

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.calibration(features[BASELINE_FEATURE].to_numpy(dtype="float64"))


def risk_band(probability: float) -> Literal["low", "medium", "high"]:
    return "high" if probability >= HIGH_RISK else "medium" if probability >= MEDIUM_RISK else "low"


def top_factors(explanation: Explanation, features: pd.DataFrame, n: int = 3) -> list[list[Factor]]:
    """For each (positional) row, the ``n`` features that move its churn score most, strongest first, in plain
    words. One sort of the whole contributions matrix: per row with pandas it cost ~0.5 ms a user."""
    names = explanation.contributions.columns
    contributions = explanation.contributions.to_numpy()
    # stable: equal pushes keep the features' order
    strongest = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :n]
    values = {names[column]: features[names[column]].to_numpy() for column in np.unique(strongest)}
    factors = []
    for row, columns in enumerate(strongest):
        row_factors = []
        for column in columns:
            name, contribution = names[column], float(contributions[row, column])
            value = values[name][row]
            direction = "raises" if contribution > 0 else "lowers"
            row_factors.append(Factor(name, value, contribution, direction,
                                      f"{FEATURES_BY_NAME[name].in_words(value)} {direction} the churn risk"))
        factors.append(row_factors)
    return factors


def labeled_snapshots(connection: duckdb.DuckDBPyConnection, dates: list[date], settings: Settings) -> pd.DataFrame:
    """The churn population at each date with its features (one query for all dates) and its label."""
    features = build_features(connection, dates, inactivity_minutes=settings.session_inactivity_minutes)
    population = features[in_churn_population(features, settings)]
    labels = pd.concat([
        churn_labels(connection, day, settings, rows[["user_id"]]).assign(as_of_date=day)
        for day, rows in population.groupby("as_of_date", sort=True)])
    return population.merge(labels, on=["user_id", "as_of_date"], validate="one_to_one").reset_index(drop=True)


@dataclass
class ChurnFit:
    model: ChurnModel
    baseline: RecencyBaseline
    best_iteration: int


def training_params(rows: int) -> dict:
    """LightGBM's parameters for a training set of ``rows`` users."""
    return {**LIGHTGBM_PARAMS, "min_data_in_leaf": min(MAX_MIN_DATA_IN_LEAF, max(10, rows // 20))}


def fit(training: pd.DataFrame, validation: pd.DataFrame) -> ChurnFit:
    """LightGBM on ``training`` with early stopping on ``validation``; both calibrations fitted on
    ``validation``."""
    train_set = lgb.Dataset(_inputs(training), training[LABEL].astype(int), free_raw_data=False)
    valid_set = lgb.Dataset(_inputs(validation), validation[LABEL].astype(int), reference=train_set)
    booster = lgb.train(training_params(len(training)), train_set, num_boost_round=MAX_ROUNDS, valid_sets=[valid_set],
                        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)])
    booster.free_dataset()  # the model is pickled into MLflow: without its training data
    labels = validation[LABEL].to_numpy()
    calibration = PlattScaling(booster.predict(_inputs(validation), raw_score=True), labels)
    baseline = RecencyBaseline(PlattScaling(validation[BASELINE_FEATURE].to_numpy(), labels))
    return ChurnFit(ChurnModel(booster, calibration), baseline, booster.best_iteration)


def churn_figures(churned: np.ndarray, probability: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier score, log loss, and lift and recall in the top decile of the probability."""
    churned = np.asarray(churned, dtype=int)
    probability = np.asarray(probability, dtype="float64")
    top = np.argsort(-probability, kind="stable")[:math.ceil(len(probability) / 10)]
    base_rate = churned.mean()
    return {
        "roc_auc": float(roc_auc_score(churned, probability)),
        "pr_auc": float(average_precision_score(churned, probability)),
        "brier": float(brier_score_loss(churned, probability)),
        "log_loss": float(log_loss(churned, probability, labels=[0, 1])),
        "top_decile_lift": float(churned[top].mean() / base_rate),
        "top_decile_recall": float(churned[top].sum() / churned.sum()),
        "churn_rate": float(base_rate),
        "rows": float(len(churned)),
    }


def calibration_table(churned: np.ndarray, probability: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted against observed churn by decile of the predicted probability."""
    frame = pd.DataFrame({"churned": np.asarray(churned, dtype=int), "probability": probability})
    frame["bin"] = pd.qcut(frame["probability"].rank(method="first"), bins, labels=False) + 1
    return (frame.groupby("bin")
            .agg(rows=("churned", "size"), mean_predicted=("probability", "mean"), observed_rate=("churned", "mean"))
            .reset_index())


def plots(evaluation: pd.DataFrame, probability: np.ndarray, baseline: np.ndarray, model: ChurnModel) -> dict[str, Figure]:
    """ROC and precision-recall curves (model and baseline), the calibration curve, the features' gain."""
    churned = evaluation[LABEL].to_numpy(dtype=int)
    curves = Figure(figsize=(10, 4.5))
    roc, pr = curves.subplots(1, 2)
    for name, scores in (("model", probability), ("recency baseline", baseline)):
        false_positive, true_positive, _ = roc_curve(churned, scores)
        roc.plot(false_positive, true_positive, label=f"{name} (AUC {roc_auc_score(churned, scores):.3f})")
        precision, recall, _ = precision_recall_curve(churned, scores)
        pr.plot(recall, precision, label=f"{name} (AP {average_precision_score(churned, scores):.3f})")
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    pr.set(xlabel="recall", ylabel="precision", title="precision-recall")
    roc.legend(loc="lower right")
    pr.legend(loc="upper right")

    calibration = Figure(figsize=(5, 5))
    axis = calibration.subplots()
    table = calibration_table(churned, probability)
    axis.plot(table["mean_predicted"], table["observed_rate"], marker="o", label="model (deciles)")
    axis.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfect calibration")
    axis.set(xlabel="mean predicted churn probability", ylabel="observed churn rate", title="calibration")
    axis.legend(loc="upper left")

    importance = Figure(figsize=(7, 8))
    axis = importance.subplots()
    gains = pd.Series(model.booster.feature_importance("gain"), index=model.feature_names).sort_values()
    axis.barh(gains.index, gains.to_numpy())
    axis.set(xlabel="total gain", title="feature importance")
    importance.tight_layout()
    return {"roc_pr.png": curves, "calibration.png": calibration, "feature_importance.png": importance}


class ChurnKind:
    """The churn model kind of the registry (``ModelKind``)."""

    name = "churn"
    primary_figure = "roc_auc"
    higher_is_better = True

    def train(self, settings: Settings, as_of: date | None = None) -> TrainedModel:
        from ml.registry import TrainedModel  # imports MLflow: only where a run is recorded

        with read_warehouse(settings.served_warehouse, settings) as connection:
            dates = snapshot_dates(connection, settings.churn_horizon_days, as_of)
            if len(dates) < 3:
                raise ValueError(
                    f"churn needs three weekly snapshots whose {settings.churn_horizon_days}-day label window "
                    f"closed (train, validation, evaluation); the warehouse has {len(dates)} ({dates}): load "
                    "more history, or lower ANALYTICS_CHURN_HORIZON_DAYS")
            snapshots = labeled_snapshots(connection, dates, settings)
        training = snapshots[snapshots["as_of_date"] < dates[-2]]
        validation = snapshots[snapshots["as_of_date"] == dates[-2]]
        evaluation = snapshots[snapshots["as_of_date"] == dates[-1]].reset_index(drop=True)
        fitted = fit(training, validation)
        figures = self.evaluate(fitted.model, evaluation)
        baseline_figures = self.evaluate(fitted.baseline, evaluation)
        gate_failures = []
        if figures["roc_auc"] < settings.churn_min_auc:
            gate_failures.append(f"ROC AUC {figures['roc_auc']:.4f} is below "
                                 f"ANALYTICS_CHURN_MIN_AUC={settings.churn_min_auc}")
        if figures["roc_auc"] <= baseline_figures["roc_auc"]:
            gate_failures.append(f"ROC AUC {figures['roc_auc']:.4f} does not beat the recency baseline's "
                                 f"{baseline_figures['roc_auc']:.4f}")
        probability = fitted.model.predict(evaluation)
        return TrainedModel(
            model=fitted.model,
            params={**training_params(len(training)), "max_rounds": MAX_ROUNDS,
                    "early_stopping_rounds": EARLY_STOPPING_ROUNDS,
                    "best_iteration": fitted.best_iteration, "calibration": "platt", "baseline": BASELINE_FEATURE,
                    "churn_activity_days": settings.churn_activity_days,
                    "churn_horizon_days": settings.churn_horizon_days, "validation_date": str(dates[-2]),
                    "feature_set_version": FEATURE_SET_VERSION},
            figures=figures,
            baseline_figures=baseline_figures,
            gate_failures=gate_failures,
            training_data=training.reset_index(drop=True),
            evaluation_data=evaluation,
            snapshot_dates=dates,
            evaluation_date=dates[-1],
            plots=plots(evaluation, probability, fitted.baseline.predict(evaluation), fitted.model),
            tables={"calibration": calibration_table(evaluation[LABEL].to_numpy(), probability)},
        )

    def evaluate(self, model: ChurnModel | RecencyBaseline, evaluation_data: pd.DataFrame) -> dict[str, float]:
        """The figures of ``model`` on an evaluation window (features and the ``churned`` label)."""
        return churn_figures(evaluation_data[LABEL].to_numpy(), model.predict(evaluation_data))


KIND = ChurnKind()
