"""Retrain a model when its scored population drifts or its champion gets old (``ml.drift``)."""

# No `from __future__ import annotations`: Dagster reads the `context` annotations.

from datetime import UTC, datetime

import dagster as dg

from analytics_settings import load_settings
from orchestration.ml.assets import MODEL_KEYS
from orchestration.ml.schedules import ml_training_job


@dg.sensor(job=ml_training_job, minimum_interval_seconds=3600, default_status=dg.DefaultSensorStatus.RUNNING)
def ml_drift_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
    """Hourly: the population stability index of every feature and of the churn score between the champion's
    training data and the latest scoring, and each champion's age. Requests a training run of the models whose
    score or a top feature drifted past ANALYTICS_DRIFT_PSI_THRESHOLD, or whose champion is older than
    ANALYTICS_CHAMPION_MAX_AGE_DAYS, at most once a day per set of models; the figures go to the model assets'
    observations and to the champion's MLflow run. A model without a champion is left to the weekly schedule
    (or `python -m ml train`)."""
    from ml import drift

    settings = load_settings()
    if not settings.served_warehouse.exists():
        return dg.SkipReason(f"{settings.served_warehouse} does not exist yet: nothing to compare")
    reports = [report for report in drift.check(settings) if report.champion_version is not None]
    for report in reports:
        drift.record_in_mlflow(report, settings)
    observations = [dg.AssetObservation(MODEL_KEYS[report.model], metadata=drift_metadata(report))
                    for report in reports]
    retrain = sorted(report.model for report in reports if report.retrain)
    if not retrain:
        return dg.SensorResult(skip_reason="no model drifted or aged past its limits", asset_events=observations)
    reasons = "; ".join(f"{report.model}: {', '.join(report.reasons)}" for report in reports if report.retrain)
    context.log.info(f"retraining {', '.join(retrain)}: {reasons}")
    today = datetime.now(UTC).date().isoformat()
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"{today}:{','.join(retrain)}",
                                    asset_selection=[MODEL_KEYS[name] for name in retrain],
                                    tags={"ml/retraining_reasons": reasons[:4000]})],
        asset_events=observations)


def drift_metadata(report) -> dict:
    return {"champion_version": report.champion_version,
            "champion_age_days": round(report.champion_age_days, 2),
            "retraining_requested": "; ".join(report.reasons) or "no",
            "top_features": ", ".join(report.top_features),
            **{f"psi_{column}": round(value, 4) for column, value in report.psi.items()}}
