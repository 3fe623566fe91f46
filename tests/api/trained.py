"""Small real models for the API tests: a LightGBM churn model (``ml.churn``) fitted on synthetic feature
rows whose label follows recency, and a revenue-rate LTV model whose predictions are known by hand."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from ml.churn import LABEL, ChurnModel, fit
from ml.features import FEATURE_NAMES, FEATURE_SET_VERSION, FEATURES

CATEGORIES = {"plan": ["free", "pro", "team"], "device_type": ["desktop", "mobile", "tablet"],
              "platform": ["web", "ios", "android"], "country_code": ["US", "DE", "FR", "BR"],
              "acquisition_channel": ["direct", "search", "social", "newsletter"]}


def feature_rows(count: int, seed: int) -> pd.DataFrame:
    """``count`` rows of every feature, as a client could post them (numbers, strings, some nulls)."""
    rng = np.random.default_rng(seed)
    columns = {}
    for feature in FEATURES:
        if feature.kind == "categorical":
            columns[feature.name] = rng.choice(CATEGORIES[feature.name], count)
        else:
            values = rng.integers(0, 60, count).astype(float)
            values[rng.random(count) < 0.1] = np.nan  # undefined: e.g. days_since_signup of a visitor
            columns[feature.name] = values
    columns["days_since_last_session"] = rng.integers(0, 28, count).astype(float)
    return pd.DataFrame(columns)


def as_json_rows(frame: pd.DataFrame) -> list[dict]:
    """The feature rows as a client posts them: NaN as null."""
    return json.loads(frame[FEATURE_NAMES].to_json(orient="records"))


def churn_model(seed: int) -> tuple[ChurnModel, pd.DataFrame]:
    """A churn model fitted with ``ml.churn.fit`` on synthetic rows (churn more likely the longer the user
    has been away, and for the free plan), and its training rows."""
    rng = np.random.default_rng(seed)
    rows = feature_rows(3000, seed)
    odds = -2.5 + 0.15 * rows["days_since_last_session"] + 0.8 * (rows["plan"] == "free")
    rows[LABEL] = rng.random(len(rows)) < 1 / (1 + np.exp(-odds))
    training, validation = rows.iloc[:2000], rows.iloc[2000:]
    return fit(training, validation).model, training


class RevenueRateModel:
    """Lifetime value as the last 90 days' revenue rate over the horizon: known by hand for any row."""

    kind = "ltv"
    feature_set_version = FEATURE_SET_VERSION

    def __init__(self, horizon_days: int) -> None:
        self.horizon_days = horizon_days
        self.feature_names = ["revenue_90d"]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        revenue = features["revenue_90d"].astype("float64").fillna(0.0).to_numpy()
        return revenue * self.horizon_days / 90  # overflows for a revenue near the largest float
