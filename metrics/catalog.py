"""The names the semantic layer defines: its metrics, and the dimensions each set of metrics can be sliced by.

Every name a caller passes is looked up here and rejected (listing the valid ones) unless the semantic
manifest defines it, so only names from dbt_project/models/semantic reach MetricFlow.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

from metricflow.engine.metricflow_engine import MetricFlowEngine
from metricflow_semantic_interfaces.type_enums import DimensionType

from metrics.errors import InvalidQueryError, UnknownDimensionError, UnknownMetricError

GRAINS = ("day", "week", "month", "quarter", "year")
METRIC_TIME = "metric_time"


@dataclass(frozen=True)
class MetricInfo:
    """A metric: its name, label, type (simple, ratio, cumulative, derived) and description."""

    name: str
    label: str
    type: str
    description: str


@dataclass(frozen=True)
class DimensionInfo:
    """A group-by/filter name. Time dimensions come once per grain (``user_day__cohort__week``)."""

    name: str
    kind: Literal["categorical", "time"]
    description: str
    template: str  # how a MetricFlow where filter refers to it, e.g. {{ Dimension('event__country_code') }}


class Catalog:
    """What the semantic manifest defines, answered from MetricFlow's own lookups (cached per metric set)."""

    def __init__(self, engine: MetricFlowEngine) -> None:
        self._engine = engine
        self.metrics: dict[str, MetricInfo] = {
            metric.name: MetricInfo(metric.name, metric.label or metric.name, metric.type.value,
                                    " ".join((metric.description or "").split()))
            for metric in engine.list_metrics(include_dimensions=False)
        }
        # metrics that compare a period with an earlier one (offset inputs) need metric_time in the query
        self.offset_metrics = frozenset(
            metric.name for metric in engine.list_metrics(include_dimensions=False)
            if any(item.offset_window or item.offset_to_grain for item in metric.type_params.metrics or ()))
        self._dimensions: dict[frozenset[str], tuple[dict[str, DimensionInfo], tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def check_metrics(self, names: tuple[str, ...]) -> None:
        if not names:
            raise InvalidQueryError(f"no metrics asked for; valid metrics: {', '.join(sorted(self.metrics))}")
        for name in names:
            if name not in self.metrics:
                raise UnknownMetricError(name, self.metrics)

    def dimensions(self, metric_names: tuple[str, ...]) -> dict[str, DimensionInfo]:
        """The dimensions every one of ``metric_names`` can be grouped and filtered by (not metric_time)."""
        return self._for(metric_names)[0]

    def grains(self, metric_names: tuple[str, ...]) -> tuple[str, ...]:
        """The grains ``metric_time`` can be asked at for ``metric_names`` (empty: no common time)."""
        return self._for(metric_names)[1]

    def dimension(self, name: str, metric_names: tuple[str, ...], role: str) -> DimensionInfo:
        valid = self.dimensions(metric_names)
        if name in valid:
            return valid[name]
        if name == METRIC_TIME or name.startswith(METRIC_TIME + "__"):
            raise InvalidQueryError(
                f"{role} {name!r}: metric time is not a dimension here; ask for it with grain= (one of "
                f"{', '.join(self.grains(metric_names))}) and limit it with start= and end=")
        raise UnknownDimensionError(name, valid, f"in {role} for metrics {', '.join(metric_names)}")

    def _for(self, metric_names: tuple[str, ...]) -> tuple[dict[str, DimensionInfo], tuple[str, ...]]:
        key = frozenset(metric_names)
        with self._lock:
            if key not in self._dimensions:
                self._dimensions[key] = self._collect(sorted(key))
            return self._dimensions[key]

    def _collect(self, metric_names: list[str]) -> tuple[dict[str, DimensionInfo], tuple[str, ...]]:
        found: dict[str, DimensionInfo] = {}
        metric_time_grains: tuple[str, ...] = ()
        for dimension in self._engine.simple_dimensions_for_metrics(metric_names):
            description = " ".join((dimension.description or "").split())
            if dimension.type is DimensionType.CATEGORICAL:
                found[dimension.dunder_name] = DimensionInfo(
                    dimension.dunder_name, "categorical", description,
                    "{{ Dimension('" + dimension.dunder_name + "') }}")
                continue
            params = dimension.type_params
            if params is not None and params.validity_params is not None:
                continue  # validity bounds of a type 2 dimension: how MetricFlow joins it, not a slice
            base = params.time_granularity.value if params is not None and params.time_granularity else "day"
            grains = GRAINS[GRAINS.index(base):] if base in GRAINS else ()
            if dimension.name == METRIC_TIME:
                metric_time_grains = grains
                continue
            element = dimension.dunder_name.removesuffix(f"__{base}")
            for grain in grains:
                found[f"{element}__{grain}"] = DimensionInfo(
                    f"{element}__{grain}", "time", f"{description} (by {grain})",
                    "{{ TimeDimension('" + element + "', '" + grain + "') }}")
        return dict(sorted(found.items())), metric_time_grains
