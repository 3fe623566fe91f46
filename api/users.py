"""``GET /v1/users/{user_id}``: a user's latest scores, segment and churn factors (``marts.fct_user_scores``)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, Field

from api.auth import require_read_key
from api.errors import ApiError, error_answers
from api.predictions import MAX_TEXT_LENGTH, ServingDependency

FACTOR_COLUMNS = ("churn_factor_1", "churn_factor_2", "churn_factor_3")


class UserScores(BaseModel):
    """The user's row of the latest scoring run that scored them (``python -m ml score``)."""

    user_id: str
    as_of_date: date = Field(description="the scores' date: features as of it, horizons from it")
    churn_probability: float | None = Field(description="null outside the churn population (no recent session)")
    churn_risk_band: str | None
    predicted_revenue: float | None = Field(description="expected revenue over the horizon, reporting currency")
    ltv_horizon_days: int | None
    segment: str | None
    churn_model_version: int | None
    ltv_model_version: int | None
    segments_model_version: int | None
    churn_factors: list[str] = Field(description="the top churn factors in plain words, strongest first")


router = APIRouter(prefix="/v1/users", tags=["users"], dependencies=[Depends(require_read_key)],
                   responses=error_answers(401, 404, 422, 503))


@router.get("/{user_id}", response_model=UserScores)
def user_scores(user_id: Annotated[str, Path(min_length=1, max_length=MAX_TEXT_LENGTH)],
                serving: ServingDependency) -> UserScores:
    """The user's latest scores: churn probability and band, predicted revenue, segment, top churn factors."""
    row = serving.latest_scores(user_id)
    if row is None:
        raise ApiError(404, "unknown_user", f"no scores for user {user_id!r} in the served warehouse: check the id "
                       "(the warehouse's user_id, after identity stitching); users first seen after the last "
                       "scoring run get scores with the next one (python -m ml score)", "user_id")
    fields = {name: row.get(name) for name in UserScores.model_fields if name not in ("churn_factors",)}
    return UserScores(**fields, churn_factors=[row[column] for column in FACTOR_COLUMNS if row.get(column)])
