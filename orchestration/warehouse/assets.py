"""The warehouse layer in Dagster: every dbt model a Dagster asset, every dbt test an asset check.

The dbt assets share the lake's daily arrival-day partitions: the run for arrival day R (or a backfill's
range, in one run) loads the events that arrived on R into the incremental models and rebuilds the tables
derived from them. dbt builds into a copy of the served warehouse and the copy is published only when every
model and test passed and the warehouse's quality suites found nothing blocking on the copy
(`warehouse.building`); a failing test or a blocking rule fails the step and nothing is published.
"""

# No `from __future__ import annotations`: Dagster reads the `context` and `config` annotations.

import os
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets

from analytics_settings import load_settings
from ml.outputs import daily_outputs, write_and_build
from orchestration.ml.assets import output_metadata
from warehouse import DBT_PROJECT_DIR, build_args, building, dbt_environment, ensure_manifest
from warehouse.project import DBT_EXECUTABLE

# One dbt build at a time (`make up`'s dagster.yaml limits every pool to 1): they share the build copy.
WAREHOUSE_POOL = "warehouse"
LAKE_SOURCES = {"bronze_events": dg.AssetKey(["bronze", "events"]),
                "daily_event_rollup": dg.AssetKey(["gold", "daily_event_rollup"])}


class WarehouseTranslator(DagsterDbtTranslator):
    """Models keyed by schema and name (`marts/fct_events`); the lake sources are the Spark assets, and the
    sources that read a model's table as the previous run left it (`previous_marts.fct_events`) are keyed
    `previous_run/…`: keyed as the model itself they would make a cycle. The ML outputs the build writes
    (``ml.outputs``) are `ml/<name>`, e.g. `ml/user_scores`."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            name = dbt_resource_props["name"]
            if dbt_resource_props["source_name"] == "lake":
                return LAKE_SOURCES[name]
            if dbt_resource_props["source_name"] == "ml":
                return dg.AssetKey(["ml", name])
            return dg.AssetKey(["previous_run", dbt_resource_props["schema"], name])
        return dg.AssetKey([dbt_resource_props["schema"], dbt_resource_props["name"]])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return "warehouse"


class WarehouseBuildConfig(dg.Config):
    full_refresh: bool = False


def dbt_resource() -> DbtCliResource:
    return DbtCliResource(project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target="build",
                          dbt_executable=DBT_EXECUTABLE)


def build_warehouse_assets(partitions_def: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    @dbt_assets(manifest=ensure_manifest(load_settings()), partitions_def=partitions_def, name="warehouse",
                dagster_dbt_translator=WarehouseTranslator(), backfill_policy=dg.BackfillPolicy.single_run(),
                pool=WAREHOUSE_POOL)
    def warehouse_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, config: WarehouseBuildConfig):
        """dbt build of the arrival days of this run into the build copy, then the ML outputs (``ml.outputs``:
        the users' scores with the champions, ``ml/user_scores``) and their marts, published once all tests
        pass."""
        settings = load_settings()
        os.environ.update(dbt_environment(settings))  # the dbt process inherits them (profiles.yml)
        days = context.partition_key_range
        args = build_args(settings, days.start, days.end, config.full_refresh)
        with building(settings, days.end) as build:  # the warehouse's quality suites gate the publish
            yield from dbt.cli(args, target_path=build.target_path, context=context).stream()
            # The ML outputs are computed from the marts of this build and published with them, then their
            # marts are built again to read them. Outside dagster-dbt: it unions a --select with the run's
            # selection, so `dbt.cli(..., "--select", ...)` would build every model a second time.
            summaries = write_and_build(daily_outputs(), build.file, build.target_path, settings, args)
            for name, summary in summaries.items():
                yield dg.AssetMaterialization(dg.AssetKey(["ml", name]), metadata=output_metadata(summary))
        context.log.info(f"published {settings.served_warehouse}")

    return warehouse_models
