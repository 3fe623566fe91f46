"""``POST /v1/models/churn/predict`` and ``/v1/models/ltv/predict``: the champions' scores, by user id (features
as of now from the served warehouse) or for feature rows the client sends."""

from __future__ import annotations

import math
from datetime import date
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from api.auth import require_read_key
from api.errors import ApiError, error_answers
from ml.churn import risk_band, top_factors
from ml.features import FEATURE_NAMES, FEATURE_SET_VERSION, FEATURES, model_input
from ml.population import in_churn_population
from ml.registry import Champion
from ml.serving import Serving

FeaturesSource = Literal["stored", "live", "request"]
FEATURES_SOURCE_DESCRIPTION = (
    "where the features came from: `stored` (the features the latest scoring kept for the scoring date), `live` "
    "(rebuilt from the served warehouse's events: a user the scoring did not see), `request` (a posted row)")

MAX_ROWS = 1_000
TOP_FACTORS = 3
MAX_TEXT_LENGTH = 256

UserId = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_LENGTH)]
# Every feature is required (null where unknown): a misspelled or forgotten feature is an error, not a NaN.
FeatureRow = create_model(
    "FeatureRow",
    __config__=ConfigDict(extra="forbid", json_schema_extra={"description": (
        f"The features of one user (feature set {FEATURE_SET_VERSION}), every one given, null where unknown.")}),
    **{feature.name: (
        Annotated[float | None, Field(strict=True, allow_inf_nan=False, description=feature.description)]
        if feature.kind == "numeric" else
        Annotated[str | None, Field(strict=True, max_length=MAX_TEXT_LENGTH, description=feature.description)], ...)
       for feature in FEATURES})


class PredictRequest(BaseModel):
    """Either ``user_ids`` (scored on their features as of now) or ``rows`` of features; at most 1,000."""

    model_config = ConfigDict(extra="forbid")
    user_ids: list[UserId] | None = Field(default=None, min_length=1, max_length=MAX_ROWS)
    rows: list[FeatureRow] | None = Field(default=None, min_length=1, max_length=MAX_ROWS)  # type: ignore[valid-type]
    include_contributions: bool = Field(
        default=False, description="churn: also every feature's contribution (log-odds), not only the top factors")

    @model_validator(mode="before")
    @classmethod
    def _at_most_max_rows(cls, data: Any) -> Any:
        # Counted before the rows are validated: 413, and a huge body costs no per-row validation.
        if isinstance(data, dict):
            for key in ("user_ids", "rows"):
                if isinstance(data.get(key), list) and len(data[key]) > MAX_ROWS:
                    raise ApiError(413, "too_many_rows", f"{key} has {len(data[key])} items; at most {MAX_ROWS} "
                                   "per request: split it into several requests", key)
        return data

    @model_validator(mode="after")
    def _one_of(self) -> PredictRequest:
        if (self.user_ids is None) == (self.rows is None):
            raise ValueError("give either user_ids or rows (feature rows), exactly one of them")
        return self


class ModelVersion(BaseModel):
    """The registered model version that answered."""

    name: str
    version: int
    alias: str
    run_id: str
    feature_set_version: str


class Factor(BaseModel):
    """One feature's push on the churn score, from LightGBM's own contributions (``pred_contrib``)."""

    feature: str
    value: float | str | None = Field(description="the feature's value (null: undefined for this user)")
    contribution: float = Field(description="change of the raw score (log-odds) due to this feature's value")
    direction: Literal["raises", "lowers"]
    text: str = Field(description="in plain words")


class ChurnScore(BaseModel):
    user_id: str | None = Field(description="null for a feature row")
    features_source: FeaturesSource = Field(description=FEATURES_SOURCE_DESCRIPTION)
    churn_probability: float = Field(description="calibrated probability of no session in the churn horizon")
    risk_band: Literal["low", "medium", "high"]
    in_churn_population: bool = Field(description="had a session in the churn activity window (the users the "
                                                  "model is trained and evaluated on)")
    raw_score: float = Field(description="the model's raw score (log-odds, before calibration) = expected_value + "
                                         "the sum of every feature's contribution")
    expected_value: float = Field(description="the raw score of an average user (LightGBM's bias term)")
    factors: list[Factor] = Field(description="the features that push the raw score most, strongest first")
    contributions: dict[str, float] | None = Field(
        default=None, description="every feature's contribution (with include_contributions)")


class LtvScore(BaseModel):
    user_id: str | None = Field(description="null for a feature row")
    features_source: FeaturesSource = Field(description=FEATURES_SOURCE_DESCRIPTION)
    predicted_revenue: float = Field(description="expected revenue over the horizon, in the reporting currency")


class ChurnPredictions(BaseModel):
    model: ModelVersion
    as_of_date: date | None = Field(description="the features' date for user_ids (now: the day after the "
                                                "latest loaded arrival day); null for rows")
    churn_horizon_days: int
    predictions: list[ChurnScore]


class LtvPredictions(BaseModel):
    model: ModelVersion
    as_of_date: date | None = Field(description="the features' date for user_ids; null for rows")
    ltv_horizon_days: int
    currency: str
    predictions: list[LtvScore]


router = APIRouter(prefix="/v1/models", tags=["models"], dependencies=[Depends(require_read_key)],
                   responses=error_answers(401, 404, 413, 422, 503))


def _serving(request: Request) -> Serving:
    return request.app.state.serving


ServingDependency = Annotated[Serving, Depends(_serving)]


@router.post("/churn/predict", response_model=ChurnPredictions)
def predict_churn(body: PredictRequest, serving: ServingDependency) -> ChurnPredictions:
    """The churn champion's probability, risk band and top factors for each user or feature row."""
    as_of, user_ids, sources, features = _features(body, serving)
    champion = serving.champion("churn")
    explanation = champion.model.explain(features)
    probabilities = _scorable(champion.model.probability(explanation.raw_score), body)
    in_population = in_churn_population(features, serving.settings).to_numpy()
    contributions = explanation.contributions
    factors = top_factors(explanation, features, n=TOP_FACTORS)
    predictions = [
        ChurnScore(
            user_id=user_id, features_source=source, churn_probability=float(probability),
            risk_band=risk_band(float(probability)), in_churn_population=bool(in_population[row]),
            raw_score=float(explanation.raw_score[row]),
            expected_value=float(explanation.expected_value[row]),
            factors=[Factor(feature=factor.feature, value=_json_value(factor.value),
                            contribution=float(factor.contribution), direction=factor.direction, text=factor.text)
                     for factor in factors[row]],
            contributions=({name: float(value) for name, value in contributions.iloc[row].items()}
                           if body.include_contributions else None))
        for row, (user_id, source, probability) in enumerate(zip(user_ids, sources, probabilities, strict=True))]
    return ChurnPredictions(model=_version(champion), as_of_date=as_of,
                            churn_horizon_days=serving.settings.churn_horizon_days, predictions=predictions)


@router.post("/ltv/predict", response_model=LtvPredictions)
def predict_ltv(body: PredictRequest, serving: ServingDependency) -> LtvPredictions:
    """The lifetime-value champion's expected revenue over the horizon for each user or feature row."""
    as_of, user_ids, sources, features = _features(body, serving)
    champion = serving.champion("ltv")
    revenue = _scorable(champion.model.predict(features), body)
    return LtvPredictions(
        model=_version(champion), as_of_date=as_of, ltv_horizon_days=champion.model.horizon_days,
        currency=serving.settings.reporting_currency,
        predictions=[LtvScore(user_id=user_id, features_source=source, predicted_revenue=float(value))
                     for user_id, source, value in zip(user_ids, sources, revenue, strict=True)])


def _features(body: PredictRequest, serving: Serving
              ) -> tuple[date | None, list[str | None], list[FeaturesSource], pd.DataFrame]:
    """The features to score (model dtypes, one row per requested item, in order), their date, user ids and
    sources."""
    if body.rows is not None:
        rows = pd.DataFrame([row.model_dump() for row in body.rows], columns=FEATURE_NAMES)
        return None, [None] * len(rows), ["request"] * len(rows), model_input(rows)
    assert body.user_ids is not None
    as_of, found = serving.features_now(body.user_ids)
    unknown = sorted(set(body.user_ids) - set(found["user_id"]))
    if unknown:
        shown = ", ".join(repr(user_id) for user_id in unknown[:10]) + (", …" if len(unknown) > 10 else "")
        raise ApiError(404, "unknown_user", f"no (non-bot) user {shown} in the served warehouse before {as_of}: "
                       "check the ids (the warehouse's user_id, after identity stitching)", "user_ids")
    by_user = found.set_index("user_id").loc[list(body.user_ids)].reset_index(drop=True)
    return as_of, list(body.user_ids), by_user["features_source"].tolist(), by_user[FEATURE_NAMES]


def _scorable(scores: np.ndarray, body: PredictRequest) -> np.ndarray:
    """The scores, when each is a finite number. Values far outside what a user can have (an age of 1e300
    days) can overflow a model's formulas: that row is the client's to fix. From the warehouse's own
    features, it is a bug of ours, and a 500 says so."""
    unscorable = np.flatnonzero(~np.isfinite(np.asarray(scores, dtype="float64")))
    if len(unscorable) and body.rows is not None:
        field = f"rows[{unscorable[0]}]"
        raise ApiError(422, "unscorable_row", f"{field}: the model gives no finite score for these values; check "
                       "them against the features' meanings in the request schema at /docs", field)
    if len(unscorable):
        raise ArithmeticError(f"non-finite scores for user ids {[body.user_ids[i] for i in unscorable[:10]]}")
    return scores


def _version(champion: Champion) -> ModelVersion:
    return ModelVersion(name=champion.name, version=champion.version, alias=champion.alias, run_id=champion.run_id,
                        feature_set_version=champion.model.feature_set_version)


def _json_value(value: object) -> float | str | None:
    """A feature value as JSON has it: NaN (undefined) as null, numpy scalars as Python ones."""
    if value is None or (isinstance(value, float | np.floating) and math.isnan(value)):
        return None
    return float(value) if isinstance(value, int | float | np.number) else str(value)
