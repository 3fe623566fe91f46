"""Metrics by name from the served warehouse, defined once in the dbt semantic layer (MetricFlow).

    import metrics
    metrics.query(["sessions", "bounce_rate"], group_by=["session__device_type"],
                  where=[("session__country_code", "in", ["US", "CA"])],
                  start="2024-03-04", end="2024-03-18", grain="week")   # -> pandas.DataFrame
    print(metrics.sql(["events"], grain="day"))

Dashboards, reports and alerts ask here instead of writing metric SQL. Only names the semantic manifest
defines are accepted (anything else raises an :class:`UnknownNameError`, a ``ValueError`` listing the valid
names), and filter values are bound as parameters, never written into the SQL. ``SemanticLayer`` holds a
manifest and a warehouse path; the module-level functions use one shared layer over the settings' served
warehouse.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from metrics.catalog import GRAINS, DimensionInfo, MetricInfo
from metrics.errors import (
    InvalidQueryError,
    ManifestNotFoundError,
    UnknownDimensionError,
    UnknownMetricError,
    UnknownNameError,
    WarehouseNotFoundError,
)
from metrics.filters import OPERATORS, Filter
from metrics.layer import ExplainedQuery, SemanticLayer, Where, default_layer
from metrics.request import TimeBound

__all__ = [
    "GRAINS", "OPERATORS", "DimensionInfo", "ExplainedQuery", "Filter", "InvalidQueryError",
    "ManifestNotFoundError", "MetricInfo", "SemanticLayer", "UnknownDimensionError", "UnknownMetricError",
    "UnknownNameError", "WarehouseNotFoundError", "default_layer", "explain", "query", "sql",
]


def query(metrics: str | Iterable[str], group_by: str | Iterable[str] = (), where: Where = (),
          start: TimeBound = None, end: TimeBound = None, grain: str | None = "day",
          order_by: str | Iterable[str] | None = None, limit: int | None = None) -> pd.DataFrame:
    """:meth:`SemanticLayer.query` on the shared layer."""
    return default_layer().query(metrics, group_by, where, start, end, grain, order_by, limit)


def explain(metrics: str | Iterable[str], group_by: str | Iterable[str] = (), where: Where = (),
            start: TimeBound = None, end: TimeBound = None, grain: str | None = "day",
            order_by: str | Iterable[str] | None = None, limit: int | None = None) -> ExplainedQuery:
    """:meth:`SemanticLayer.explain` on the shared layer."""
    return default_layer().explain(metrics, group_by, where, start, end, grain, order_by, limit)


def sql(metrics: str | Iterable[str], group_by: str | Iterable[str] = (), where: Where = (),
        start: TimeBound = None, end: TimeBound = None, grain: str | None = "day",
        order_by: str | Iterable[str] | None = None, limit: int | None = None) -> str:
    """:meth:`SemanticLayer.sql` on the shared layer."""
    return default_layer().sql(metrics, group_by, where, start, end, grain, order_by, limit)
