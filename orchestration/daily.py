"""The daily chain: an arrival day through the lake (Spark) and the warehouse (dbt), as one run, gated by the
quality suites (the landing suite runs first; it is a check of the collect layer's asset)."""

from __future__ import annotations

import dagster as dg

from orchestration.quality import QUALITY_CHECK, freshness_check_keys

LANDING_QUALITY = dg.AssetCheckKey(dg.AssetKey(["landing", "events"]), QUALITY_CHECK)

daily_job = dg.define_asset_job(
    "daily",
    selection=(dg.AssetSelection.groups("lake", "warehouse") | dg.AssetSelection.checks(LANDING_QUALITY))
    - dg.AssetSelection.checks(*freshness_check_keys()),
    # One process for the whole run: the heavy work runs in Spark and dbt processes anyway, and the quality
    # checks then load Great Expectations (seconds) once per run instead of once per step.
    executor_def=dg.in_process_executor,
    description="Validate the landed arrival days, compact them into bronze, roll up the event days they touched "
                "into gold, load them into the warehouse with dbt and publish it once its tests pass; each layer's "
                "quality suite gates the next.",
)
