"""Drift of the scored population from the champion's training data, and when to retrain.

The population stability index (PSI) compares two distributions of one column over the reference's bins:
``sum((current share - reference share) * ln(current share / reference share))``. Numeric columns are cut at
the reference's deciles (a value on an edge falls in the lower bin), categoricals by value; missing values are
a bin of their own; an empty bin counts as ``EMPTY_SHARE`` so the logarithm stays finite. Rule of thumb: below
0.1 stable, 0.1-0.2 moderate, above 0.2 (``ANALYTICS_DRIFT_PSI_THRESHOLD``) a shift worth retraining for.

The reference is the champion's training data rebuilt from the warehouse: features as of a date use only what
the warehouse knew before that date, so the snapshots the run logged give the same rows again. The current
population is the latest scoring: the features as of its day and the churn probabilities it wrote.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analytics_settings import Settings

BINS = 10
EMPTY_SHARE = 1e-4
MISSING = "missing"
SCORE = "churn_probability"
TOP_FEATURE_COUNT = 5   # the features with the largest mean absolute contribution to the churn score
DAY_SECONDS = 86_400


def population_stability_index(reference: pd.Series, current: pd.Series, bins: int = BINS) -> float:
    """PSI of ``current`` against ``reference`` (see the module docstring for the binning)."""
    reference_shares, current_shares = _shares(reference, current, bins)
    expected = np.maximum(reference_shares, EMPTY_SHARE)
    actual = np.maximum(current_shares, EMPTY_SHARE)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares(reference: pd.Series, current: pd.Series, bins: int) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.is_numeric_dtype(reference) and pd.api.types.is_numeric_dtype(current):
        known = reference.dropna().to_numpy(dtype=float)
        edges = np.unique(np.quantile(known, np.arange(1, bins) / bins)) if len(known) else np.array([])
        reference_bins, current_bins = (_numeric_bins(values, edges) for values in (reference, current))
    else:
        reference_bins, current_bins = (values.astype("object").where(values.notna(), MISSING).astype(str)
                                        for values in (reference, current))
    labels = sorted(set(reference_bins) | set(current_bins))
    return (reference_bins.value_counts(normalize=True).reindex(labels, fill_value=0).to_numpy(),
            current_bins.value_counts(normalize=True).reindex(labels, fill_value=0).to_numpy())


def _numeric_bins(values: pd.Series, edges: np.ndarray) -> pd.Series:
    numbers = values.to_numpy(dtype=float)
    bins = np.searchsorted(edges, numbers, side="left").astype(str).astype(object)
    bins[np.isnan(numbers)] = MISSING
    return pd.Series(bins)


def feature_drift(reference: pd.DataFrame, current: pd.DataFrame, columns: Iterable[str]) -> dict[str, float]:
    """PSI of every column of ``columns`` between the two frames."""
    return {column: population_stability_index(reference[column], current[column]) for column in columns}


@dataclass(frozen=True)
class DriftReport:
    """What the drift sensor decides on, for one model."""

    model: str
    champion_version: int | None
    champion_age_days: float | None
    champion_run_id: str | None = None
    psi: dict[str, float] = field(default_factory=dict)      # per feature, and the score under SCORE
    top_features: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)         # why retraining is requested; [] = it is not

    @property
    def retrain(self) -> bool:
        return bool(self.reasons)


def retraining_reasons(psi: dict[str, float], top_features: Iterable[str], champion_age_days: float | None,
                       settings: Settings) -> list[str]:
    """Why retraining is requested: the score or a top feature drifted past ``drift_psi_threshold``, or the
    champion is older than ``champion_max_age_days``."""
    threshold = settings.drift_psi_threshold
    reasons = [f"PSI of {column} is {psi[column]:.3f} (> {threshold})"
               for column in [SCORE, *top_features] if column in psi and psi[column] > threshold]
    if champion_age_days is not None and champion_age_days > settings.champion_max_age_days:
        reasons.append(f"the champion is {champion_age_days:.1f} days old (> {settings.champion_max_age_days})")
    return reasons


def champion_age_days(name: str, version: int, settings: Settings, now: float | None = None) -> float:
    """Days since ``version`` of ``name`` was registered."""
    from ml import tracking

    registered = tracking.configure(settings).get_model_version(name, str(version)).creation_timestamp / 1000
    return ((now if now is not None else time.time()) - registered) / DAY_SECONDS


def check_model_age(name: str, settings: Settings) -> DriftReport:
    """The age rule alone (LTV and segments): retrain a champion older than ``champion_max_age_days``. A model
    without a champion is left to the weekly training (its data may be too short to train on yet)."""
    from ml.registry import NoChampionError, load_model

    try:
        champion = load_model(name, settings)
    except NoChampionError:
        return DriftReport(name, None, None)
    age = champion_age_days(name, champion.version, settings)
    return DriftReport(name, champion.version, age, reasons=retraining_reasons({}, [], age, settings))


def check_churn_drift(warehouse: Path, settings: Settings) -> DriftReport:
    """PSI of every feature and of the churn score between the churn champion's training snapshots and the
    latest scoring (the newest scores file), the top features by contribution, and the retraining reasons."""
    from ml import tracking
    from ml.features import FEATURE_NAMES, read_warehouse
    from ml.registry import NoChampionError, load_model

    try:
        champion = load_model("churn", settings)
    except NoChampionError:
        return DriftReport("churn", None, None)
    age = champion_age_days("churn", champion.version, settings)
    latest = latest_scores(settings)
    if latest is None:  # never scored: nothing to compare yet, only the age rule applies
        return DriftReport("churn", champion.version, age, reasons=retraining_reasons({}, [], age, settings))
    scored_day, scores = latest
    run = tracking.configure(settings).get_run(champion.run_id)
    snapshots = [date.fromisoformat(day) for day in run.data.params["snapshot_dates"].split(",")]
    with read_warehouse(warehouse, settings) as connection:
        reference = population_features(connection, snapshots, settings)  # one query for every snapshot
        current = population_features(connection, [scored_day], settings)
    model = champion.model
    reference[SCORE] = model.predict(reference)
    current = current.merge(scores[["user_id", SCORE]], on="user_id", how="inner")
    psi = feature_drift(reference, current, [*FEATURE_NAMES, SCORE])
    contributions = model.explain(current).contributions.abs().mean().sort_values(ascending=False)
    top = list(contributions.index[:TOP_FEATURE_COUNT])
    return DriftReport("churn", champion.version, age, champion.run_id, psi, top,
                       retraining_reasons(psi, top, age, settings))


def record_in_mlflow(report: DriftReport, settings: Settings) -> None:
    """Add the report's PSI figures to the champion's training run (``drift_psi_<column>``), one point per
    check, so the run shows how far the population moved since it was trained."""
    if not report.psi or report.champion_run_id is None:
        return
    from mlflow.entities import Metric

    from ml import tracking

    now = int(time.time() * 1000)
    tracking.configure(settings).log_batch(report.champion_run_id, metrics=[
        Metric(f"drift_psi_{column}", value, now, 0) for column, value in report.psi.items()])


def population_features(connection: duckdb.DuckDBPyConnection, as_of: list[date], settings: Settings) -> pd.DataFrame:
    """The features as of each date of ``as_of`` of the users of the churn population then (what the churn model
    scores)."""
    from ml.features import build_features
    from ml.population import in_churn_population

    features = build_features(connection, as_of, inactivity_minutes=settings.session_inactivity_minutes)
    return features[in_churn_population(features, settings)].reset_index(drop=True)


def latest_scores(settings: Settings) -> tuple[date, pd.DataFrame] | None:
    """The newest scores file's day and its rows of the churn population, or None before the first scoring."""
    days = sorted(settings.ml_scores_dir.glob("as_of_date=*/scores.parquet"))
    if not days:
        return None
    newest = days[-1]
    scores = pd.read_parquet(newest)
    return date.fromisoformat(newest.parent.name.removeprefix("as_of_date=")), scores[scores[SCORE].notna()]


def check(settings: Settings) -> list[DriftReport]:
    """Every model's report on the served warehouse: churn's drift and age, LTV's and segments' age."""
    return [check_churn_drift(settings.served_warehouse, settings),
            check_model_age("ltv", settings), check_model_age("segments", settings)]
