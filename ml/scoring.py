"""Scores of every user with the registered champions, written as Parquet for dbt to read into the warehouse.

    python -m ml score [--as-of YYYY-MM-DD]      (ml/__main__.py; see main)

:func:`score_users` reads a warehouse (the build copy, during a build) read-only and writes
``$ANALYTICS_DATA_DIR/ml/scores/as_of_date=D/scores.parquet``: churn probability, risk band and the three
strongest churn factors for every user of the churn population at D, predicted revenue and segment for every
user seen before D, and the version of each champion. Beside it, ``ml/features/as_of_date=D/features.parquet``
keeps the features it scored (feature-set version in the file's metadata): the API answers a prediction by user
id from them instead of rebuilding one user's features with a scan of the events. dbt reads the files into
``marts.fct_user_scores`` in the same build, so the scores reach readers through the build-then-publish path
with the marts they were computed from, never written into the served file.

A model without a champion (a fresh install) leaves its columns null and says so in the log: the daily chain
must not fail before anyone trained a model. The same warehouse and champions give the same file.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date
from functools import partial
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from analytics_settings import Settings, load_settings
from ml.outputs import Output, publish

log = logging.getLogger(__name__)

MODEL_NAMES = ("churn", "ltv", "segments")
FACTOR_COUNT = 3
SCORES_FILE = "scores.parquet"
FEATURES_FILE = "features.parquet"
FEATURE_SET_METADATA = b"feature_set_version"  # key of the features file's Parquet metadata
SCORES_MODEL = "fct_user_scores"  # the dbt model that reads the files
SCORES_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("as_of_date", pa.date32()),
    ("churn_probability", pa.float64()), ("churn_risk_band", pa.string()),
    ("predicted_revenue", pa.float64()), ("ltv_horizon_days", pa.int32()), ("segment", pa.string()),
    ("churn_model_version", pa.int32()), ("ltv_model_version", pa.int32()), ("segments_model_version", pa.int32()),
    *[(f"churn_factor_{rank}", pa.string()) for rank in range(1, FACTOR_COUNT + 1)],
])


@dataclass(frozen=True)
class ScoresSummary:
    """What one scoring wrote: the figures a person wants to see next to the file."""

    path: Path
    as_of: date
    users: int
    churn_scored: int
    model_versions: dict[str, int | None]   # None: no champion, its columns are null

    def metadata(self) -> dict[str, object]:
        """The figures a person wants to see next to the file (e.g. as the Dagster asset's metadata)."""
        return {"as_of_date": self.as_of.isoformat(), "rows": self.users, "churn_scored": self.churn_scored,
                "path": self.path,
                **{f"{name}_model_version": version for name, version in self.model_versions.items()}}


def scores_path(settings: Settings, as_of: date) -> Path:
    return settings.ml_scores_dir / f"as_of_date={as_of.isoformat()}" / SCORES_FILE


def features_path(settings: Settings, as_of: date) -> Path:
    return settings.ml_features_dir / f"as_of_date={as_of.isoformat()}" / FEATURES_FILE


def score_users(warehouse: Path, settings: Settings, as_of: date | None = None) -> Path:
    """Score every user of ``warehouse`` as of ``as_of`` (its scoring date when None) with the champions and
    replace that day's scores file atomically; returns its path."""
    return score_users_summary(warehouse, settings, as_of).path


def score_users_summary(warehouse: Path, settings: Settings, as_of: date | None = None) -> ScoresSummary:
    """:func:`score_users`, returning what it wrote (rows, model versions) for logs and asset metadata."""
    from ml.features import FEATURE_SET_VERSION, build_features, read_warehouse
    from ml.population import in_churn_population, scoring_date

    champions = {name: champion for name in MODEL_NAMES
                 if (champion := _champion(name, settings, FEATURE_SET_VERSION)) is not None}
    with read_warehouse(warehouse, settings) as connection:
        as_of = as_of or scoring_date(connection)
        if champions:
            features = build_features(connection, as_of, inactivity_minutes=settings.session_inactivity_minutes)
            population = set(features.loc[in_churn_population(features, settings), "user_id"])
        else:  # nothing to score with: no need to build the features
            features, population = pd.DataFrame({"user_id": pd.Series(dtype="string")}), set()
    scores = score_frame(features, as_of, population, champions)
    if champions:  # the features the API serves from; without a champion it has nothing to predict with
        write_features(features, features_path(settings, as_of))
    path = scores_path(settings, as_of)
    write_atomically(scores, path)
    summary = ScoresSummary(path, as_of, len(scores), int(scores["churn_probability"].notna().sum()),
                            {name: champions[name].version if name in champions else None for name in MODEL_NAMES})
    log.info("scored %d users as of %s (%d of the churn population) with %s into %s", summary.users, as_of,
             summary.churn_scored, describe_versions(summary.model_versions), path)
    return summary


def _champion(name: str, settings: Settings, feature_set_version: str):
    """The champion of ``name``, or None (logged with what to do) when it has none or reads other features."""
    from ml.registry import NoChampionError, load_model

    try:
        champion = load_model(name, settings)
    except NoChampionError as missing:
        log.warning("%s: its scores stay null", missing)
        return None
    if champion.model.feature_set_version != feature_set_version:
        log.warning("the %s champion (version %d) reads feature set %s, the warehouse's is %s: its scores stay "
                    "null until a new one is trained: python -m ml train %s", name, champion.version,
                    champion.model.feature_set_version, feature_set_version, name)
        return None
    return champion


def score_frame(features: pd.DataFrame, as_of: date, churn_users: set[str], champions: dict) -> pd.DataFrame:
    """One row per user of ``features`` in the order of ``SCORES_SCHEMA``: each champion's scores, null for a
    model without a champion (and churn's for users outside ``churn_users``)."""
    scores = pd.DataFrame({"user_id": features["user_id"].astype("string").to_numpy(), "as_of_date": as_of})
    for column in SCORES_SCHEMA.names[2:]:
        scores[column] = None
    if "ltv" in champions:
        scores["predicted_revenue"] = champions["ltv"].model.predict(features)
        scores["ltv_horizon_days"] = champions["ltv"].model.horizon_days  # what it predicts, not the setting
        scores["ltv_model_version"] = champions["ltv"].version
    if "segments" in champions:
        scores["segment"] = champions["segments"].model.predict(features)
        scores["segments_model_version"] = champions["segments"].version
    in_population = features["user_id"].isin(churn_users).to_numpy()
    if "churn" in champions and in_population.any():
        from ml.churn import risk_band, top_factors

        model = champions["churn"].model
        rows = features.loc[in_population].reset_index(drop=True)
        explanation = model.explain(rows)
        probabilities = model.probability(explanation.raw_score)
        factors = [[factor.text for factor in row_factors]
                   for row_factors in top_factors(explanation, rows, n=FACTOR_COUNT)]
        scores.loc[in_population, "churn_probability"] = probabilities
        scores.loc[in_population, "churn_risk_band"] = [risk_band(p) for p in probabilities]
        scores.loc[in_population, "churn_model_version"] = champions["churn"].version
        for rank in range(FACTOR_COUNT):
            scores.loc[in_population, f"churn_factor_{rank + 1}"] = [
                texts[rank] if rank < len(texts) else None for texts in factors]
    return scores.sort_values("user_id", ignore_index=True)


def write_atomically(scores: pd.DataFrame, path: Path) -> None:
    """Write ``scores`` with the contract's schema to ``path`` atomically (:func:`_replace`)."""
    _replace(pa.Table.from_pandas(scores, schema=SCORES_SCHEMA, preserve_index=False), path)


def write_features(features: pd.DataFrame, path: Path) -> None:
    """Write rows of :func:`ml.features.build_features` to ``path`` atomically, categoricals as text (the models
    read text as they read rows posted to the API) and the feature-set version in the file's metadata."""
    from ml.features import FEATURE_NAMES, FEATURE_SET_VERSION, FEATURES, ID_COLUMNS

    schema = pa.schema(
        [("user_id", pa.string()), ("as_of_date", pa.date32()),
         *[(feature.name, pa.float64() if feature.kind == "numeric" else pa.string()) for feature in FEATURES]],
        metadata={FEATURE_SET_METADATA: FEATURE_SET_VERSION.encode()})
    rows = features[[*ID_COLUMNS, *FEATURE_NAMES]].astype(
        {feature.name: "string" for feature in FEATURES if feature.kind == "categorical"})
    _replace(pa.Table.from_pandas(rows, schema=schema, preserve_index=False), path)


def _replace(table: pa.Table, path: Path) -> None:
    """Write ``table`` next to ``path``, then rename it over ``path``: a reader (a dbt build, the API) sees the
    old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, staged)
    os.replace(staged, path)


def scores_output(as_of: date | None = None) -> Output:
    """The scores as an ML output (:mod:`ml.outputs`): written from a build copy, read into
    ``fct_user_scores``."""
    return Output("user_scores", SCORES_MODEL, partial(score_users_summary, as_of=as_of))


def main(settings: Settings | None = None, as_of: date | None = None) -> str:
    """``python -m ml score [--as-of D]`` (``ml/__main__.py`` parses it and prints what this returns): score the
    served warehouse's users and publish them through a new build of it (:func:`ml.outputs.publish`)."""
    settings = settings or load_settings()
    summary = publish([scores_output(as_of)], settings)["user_scores"]
    return (f"scored {summary.users} users as of {summary.as_of} ({summary.churn_scored} in the churn population) "
            f"with {describe_versions(summary.model_versions)}; published {settings.served_warehouse}")


def describe_versions(versions: dict[str, int | None]) -> str:
    return ", ".join(f"{name} v{version}" if version else f"no {name} champion" for name, version in versions.items())
