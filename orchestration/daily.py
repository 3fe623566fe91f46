"""The daily chain: an arrival day through the lake (Spark) and the warehouse (dbt), as one run."""

from __future__ import annotations

import dagster as dg

daily_job = dg.define_asset_job(
    "daily", selection=dg.AssetSelection.groups("lake", "warehouse"),
    description="Compact arrival days into bronze, roll up the event days they touched into gold, load them into "
                "the warehouse with dbt and publish it once its tests pass.",
)
