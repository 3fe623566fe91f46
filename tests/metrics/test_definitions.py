"""The semantic manifest dbt writes: valid for MetricFlow and against the warehouse, complete, described."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import yaml
from metricflow.validation.data_warehouse_model_validator import DataWarehouseModelValidator
from metricflow_semantic_interfaces.validations.semantic_manifest_validator import SemanticManifestValidator
from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest

from metrics import ManifestNotFoundError, SemanticLayer
from metrics.manifest import load_semantic_manifest
from metrics.sql_client import DuckDbSqlClient
from tests.metrics.conftest import BuiltWarehouse
from warehouse import DBT_PROJECT_DIR

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)

BASE_METRICS = ["events", "orders", "revenue", "sessions", "active_users", "active_users_7d", "active_users_30d",
                "new_users"]


def test_semantic_validations_pass(built_warehouse: BuiltWarehouse) -> None:
    """What `mf validate-configs` checks first."""
    manifest = parse_manifest_from_dbt_generated_manifest(built_warehouse.manifest.read_text())
    results = SemanticManifestValidator().validate_semantic_manifest(manifest)
    assert not results.has_blocking_issues, [issue.message for issue in results.all_issues]


def test_data_warehouse_validations_pass(built_warehouse: BuiltWarehouse) -> None:
    """What `mf validate-configs` checks against the warehouse: every model, dimension, entity and metric."""
    manifest = load_semantic_manifest(built_warehouse.manifest).semantic_manifest
    with duckdb.connect(str(built_warehouse.served), read_only=True) as connection:
        validator = DataWarehouseModelValidator(DuckDbSqlClient(connection))
        for validate in (validator.validate_semantic_models, validator.validate_dimensions,
                         validator.validate_entities, validator.validate_simple_metrics,
                         validator.validate_metrics):
            results = validate(manifest)
            assert not results.all_issues, [issue.message for issue in results.all_issues]


def test_everything_is_described(built_warehouse: BuiltWarehouse) -> None:
    raw = json.loads(built_warehouse.manifest.read_text())
    for metric in raw["metrics"]:
        assert metric["description"].strip() and metric["label"], metric["name"]
    for model in raw["semantic_models"]:
        assert model["description"], model["name"]
        for kind in ("entities", "dimensions", "measures"):
            for element in model[kind]:
                assert (element.get("description") or "").strip(), (model["name"], kind, element["name"])


def test_every_revenue_metric_says_it_is_in_the_reporting_currency(built_warehouse: BuiltWarehouse) -> None:
    raw = {metric["name"]: metric for metric in json.loads(built_warehouse.manifest.read_text())["metrics"]}
    revenue = {name for name in raw if "revenue" in name}
    assert revenue >= {"revenue", "user_revenue", "average_revenue_per_user", "revenue_wow_growth",
                       "revenue_original_currency"}
    for name in revenue - {"revenue_original_currency"}:
        assert "reporting currency (ANALYTICS_REPORTING_CURRENCY" in " ".join(raw[name]["description"].split()), name
    assert "grouped by `event__currency`" in raw["revenue_original_currency"]["description"]


def test_a_conversion_rate_per_funnel_of_the_project(layer: SemanticLayer, built_warehouse: BuiltWarehouse
                                                     ) -> None:
    funnels = [funnel["name"] for funnel in
               yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]["funnels"]]
    defined = {metric.name for metric in layer.metrics() if metric.name.endswith("_conversion_rate")}
    assert defined == {f"{name}_conversion_rate" for name in funnels} | {"funnel_conversion_rate"}
    raw = {metric["name"]: metric for metric in json.loads(built_warehouse.manifest.read_text())["metrics"]}
    for name in funnels:
        params = raw[f"{name}_conversion_rate"]["type_params"]
        for side in ("numerator", "denominator"):
            assert f"= '{name}'" in params[side]["filter"]["where_filters"][0]["where_sql_template"]


def test_week_over_week_growth_of_each_base_metric(layer: SemanticLayer) -> None:
    names = {metric.name for metric in layer.metrics()}
    assert {f"{base}_wow_growth" for base in BASE_METRICS} <= names
    assert {metric.name for metric in layer.metrics() if metric.name.endswith("_wow_growth")} == {
        f"{base}_wow_growth" for base in BASE_METRICS}


@pytest.mark.parametrize("metric, dimensions", [
    ("events", ["event__event_name", "event__country_code", "event__device_type", "event__browser",
                "event__referrer_class", "event__utm_source", "event__utm_campaign"]),
    ("sessions", ["session__country_code", "session__device_type", "session__browser", "session__referrer_class",
                  "session__utm_source", "session__utm_campaign", "user__plan"]),
    ("active_users", ["user__plan", "user_day__cohort__week", "user_day__cohort__month"]),
    ("active_users_7d", ["user__plan", "recent_user__cohort__week", "recent_user__status",
                         "recent_user__is_identified", "recent_user__days_since_active"]),
    ("new_users", ["user__plan", "user_day__cohort__week", "user_day__status", "user_day__is_identified"]),
    ("funnel_conversion_rate", ["funnel_entry__funnel_name", "funnel_entry__cohort__week",
                                "funnel_entry__country_code", "funnel_entry__device_type", "user__plan"]),
    ("day_7_retention", ["cohort_period__cohort_start__week"]),
])
def test_the_dimensions_people_slice_by(layer: SemanticLayer, metric: str, dimensions: list[str]) -> None:
    assert set(dimensions) <= {dimension.name for dimension in layer.dimensions(metric)}


def test_a_missing_manifest_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ManifestNotFoundError, match="published with the warehouse"):
        load_semantic_manifest(tmp_path / "semantic_manifest.json")
