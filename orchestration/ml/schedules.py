"""Weekly retraining of every model (the drift sensor retrains sooner when the population moves)."""

from __future__ import annotations

import dagster as dg

from orchestration.ml.assets import MODEL_KEYS

ml_training_job = dg.define_asset_job(
    "ml_training", selection=dg.AssetSelection.assets(*MODEL_KEYS.values()),
    description="Train the churn, lifetime-value and segments models on the served warehouse, record the runs in "
                "MLflow and promote each one that beats its champion on the same evaluation window.")

ml_training_schedule = dg.ScheduleDefinition(
    name="ml_training_schedule", job=ml_training_job, cron_schedule="0 2 * * 1", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every Monday at 02:00 UTC, after the daily chain's 00:30 run.")
