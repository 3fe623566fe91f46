"""The semantic manifest `dbt parse` writes, loaded for MetricFlow and detached from the build file's name.

dbt records each table as `"<database>"."<schema>"."<table>"`, where the database is the name DuckDB gave
the *build* file. Readers open the *served* file, whose catalog has another name, so the database part is
dropped: the compiled SQL then names `"marts"."fct_events"` and runs on any connection whose default
catalog is the warehouse (the module's, or a `duckdb served.duckdb` shell).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metricflow_semantics.model.dbt_manifest_parser import parse_manifest_from_dbt_generated_manifest
from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

from metrics.errors import ManifestNotFoundError


def load_semantic_manifest(path: Path | str) -> SemanticManifestLookup:
    """MetricFlow's view of the semantic manifest at ``path`` (published next to the served warehouse)."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        raise ManifestNotFoundError(
            f"no semantic manifest at {path}; it is published with the warehouse (`make pipeline`), or "
            "`dbt parse` in dbt_project/ writes one to target/semantic_manifest.json"
        ) from None
    for semantic_model in raw.get("semantic_models", []):
        semantic_model["node_relation"] = _without_database(semantic_model["node_relation"])
    for time_spine in raw.get("project_configuration", {}).get("time_spines", []):
        time_spine["node_relation"] = _without_database(time_spine["node_relation"])
    return SemanticManifestLookup(parse_manifest_from_dbt_generated_manifest(json.dumps(raw)))


def _without_database(node_relation: dict[str, Any]) -> dict[str, Any]:
    schema, table = node_relation["schema_name"], node_relation["alias"]
    return {"alias": table, "schema_name": schema, "database": None,
            "relation_name": f"{_quoted(schema)}.{_quoted(table)}"}


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
