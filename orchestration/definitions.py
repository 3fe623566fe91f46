"""The Dagster code location (see workspace.yaml): it merges the definitions of each layer.

Nothing here reads the environment or the lake at import time. ``defs`` is loaded lazily when Dagster
loads the code location; it reads one setting then, ``ANALYTICS_PIPELINE_START_DATE``, because Dagster
needs the first daily partition to build the partitioned assets, and parses the dbt project when its
manifest is older than its files (the dbt assets are read from it). Assets, the schedule and the sensor call
``load_settings()`` when they run.
"""

from __future__ import annotations

import dagster as dg

from analytics_settings import load_settings
from orchestration.collect.assets import (
    access_log_import,
    access_log_job,
    access_log_schedule,
    landing_events,
)
from orchestration.daily import daily_job
from orchestration.lake.assets import arrival_days, build_lake_assets
from orchestration.lake.resources import SparkJobRunner
from orchestration.ml.assets import model_assets, user_scores
from orchestration.ml.schedules import ml_training_job, ml_training_schedule
from orchestration.ml.sensors import ml_drift_sensor
from orchestration.quality import (
    accept_quality_failure_job,
    freshness_checks,
    freshness_job,
    freshness_schedule,
    quality_checks,
)
from orchestration.schedules import daily_schedule
from orchestration.sensors import landing_sealed_files_sensor
from orchestration.warehouse.assets import build_warehouse_assets, dbt_resource


def collect_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[landing_events, access_log_import], jobs=[access_log_job],
                          schedules=[access_log_schedule])


def daily_chain_definitions() -> dg.Definitions:
    """The lake and the warehouse, on the same arrival-day partitions, their quality and freshness checks, and
    what triggers them."""
    partitions = arrival_days(load_settings().pipeline_start_date)
    return dg.Definitions(
        assets=[*build_lake_assets(partitions), build_warehouse_assets(partitions)],
        asset_checks=[*quality_checks(partitions), *freshness_checks()],
        jobs=[daily_job, freshness_job, accept_quality_failure_job],
        schedules=[daily_schedule, freshness_schedule],
        sensors=[landing_sealed_files_sensor],
        resources={"spark": SparkJobRunner(), "dbt": dbt_resource()},
    )


def ml_definitions() -> dg.Definitions:
    """The models, trained weekly and when the drift sensor asks, and the scores the daily chain writes."""
    return dg.Definitions(assets=[*model_assets, user_scores], jobs=[ml_training_job],
                          schedules=[ml_training_schedule], sensors=[ml_drift_sensor])


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(collect_definitions(), daily_chain_definitions(), ml_definitions())
