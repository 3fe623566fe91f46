"""The ML layer in Dagster: the churn, lifetime-value and segments models trained and registered in MLflow,
and the users' scores (``ml/user_scores``), which the warehouse asset writes during each daily build.

Training reads the served warehouse's marts, so the model assets are downstream of them; ``ml.training.run``
trains, records the run in MLflow and decides the registry aliases, and the asset shows what it decided.
"""

# No `from __future__ import annotations`: Dagster reads the `context` annotations.

from pathlib import Path
from typing import Any

import dagster as dg

from analytics_settings import Settings, load_settings

MODELS = {
    "churn": "Who is about to leave: LightGBM on the users' features as of each snapshot, calibrated, against a "
             "recency-only baseline; registered when its ROC AUC passes ANALYTICS_CHURN_MIN_AUC and the baseline.",
    "ltv": "What each customer is worth over ANALYTICS_LTV_HORIZON_DAYS: BG/NBD + Gamma-Gamma and LightGBM on the "
           "same out-of-time window, the better on RMSE whose total is within 20% of the actual.",
    "segments": "K-means segments on standardized RFM and engagement features, named from their profiles.",
}
MODEL_KEYS = {name: dg.AssetKey(["ml", f"{name}_model"]) for name in MODELS}
USER_SCORES = dg.AssetKey(["ml", "user_scores"])
# The marts the features read (ml.features): training runs after the build that published them.
FEATURE_MARTS = [dg.AssetKey(["marts", name]) for name in ("fct_events", "dim_sessions", "dim_users")]


def model_metadata(outcome: Any, settings: Settings) -> dict[str, Any]:
    """What a person wants to see of a training run (``ml.training.RunOutcome``) in the asset's metadata."""
    from ml.tracking import run_link

    return {
        "mlflow_run_id": outcome.run_id,
        "mlflow_run": dg.MetadataValue.url(run_link(settings, outcome.experiment_id, outcome.run_id)),
        "decision": outcome.decision,
        "version": outcome.version,
        "alias": outcome.alias,
        **{name: float(value) for name, value in outcome.figures.items()},
        **{f"baseline_{name}": float(value) for name, value in outcome.baseline_figures.items()},
        **{f"champion_{name}": float(value) for name, value in outcome.champion_figures.items()},
    }


def model_asset(name: str) -> dg.AssetsDefinition:
    @dg.asset(key=MODEL_KEYS[name], group_name="ml", deps=FEATURE_MARTS, kinds={"mlflow", "python"},
              description=MODELS[name])
    def train_model(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from ml.training import KINDS, run

        settings = load_settings()
        outcome = run(KINDS[name], settings)
        context.log.info(outcome.decision)
        return dg.MaterializeResult(metadata=model_metadata(outcome, settings))

    return train_model


model_assets = [model_asset(name) for name in MODELS]

user_scores = dg.AssetSpec(
    USER_SCORES, group_name="ml", kinds={"parquet"}, deps=[*FEATURE_MARTS, *MODEL_KEYS.values()],
    description="Every user's churn probability, risk band and top factors, predicted revenue and segment from "
                "the champions, as of the day after the latest arrival day: written by the warehouse asset in each "
                "daily build, after the marts and before the publish (ml.scoring), and read into "
                "marts/fct_user_scores.")


def output_metadata(summary: Any) -> dict[str, Any]:
    """The metadata of an ML output's materialization (``ml.outputs``): its summary's ``metadata()``, paths
    shown as paths."""
    return {key: dg.MetadataValue.path(str(value)) if isinstance(value, Path) else value
            for key, value in summary.metadata().items()}
