"""The semantic layer's query interface: metrics by name, with dimensions, filters, a range and a grain."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pandas as pd

from analytics_settings import load_settings
from metrics.catalog import DimensionInfo, MetricInfo
from metrics.compiler import MetricCompiler
from metrics.filters import Filter
from metrics.manifest import load_semantic_manifest
from metrics.request import MetricRequest, TimeBound, build_request
from metrics.warehouse import ServedWarehouse
from warehouse.publish import semantic_manifest_path

Where = Iterable[Filter | Mapping[str, Any] | tuple]


@dataclass(frozen=True)
class ExplainedQuery:
    """What :meth:`SemanticLayer.query` would run: the SQL and the values bound to its parameters."""

    sql: str
    parameters: dict[str, Any] = field(default_factory=dict)
    request: MetricRequest | None = None


class SemanticLayer:
    """Answers metric queries from the served warehouse, with the definitions of the semantic manifest.

    ``warehouse`` defaults to the settings' served warehouse, ``manifest`` to the semantic manifest
    published next to it (the definitions built with its tables). Safe to share between threads (queries run one at a
    time on its connection).
    """

    def __init__(self, warehouse: Path | str | None = None, manifest: Path | str | None = None,
                 cache_size: int = 1024) -> None:
        self.warehouse_path = Path(warehouse) if warehouse is not None else load_settings().served_warehouse
        self.manifest_path = Path(manifest) if manifest is not None else semantic_manifest_path(self.warehouse_path)
        self._cache_size = cache_size
        self._compiler = MetricCompiler(load_semantic_manifest(self.manifest_path), cache_size)
        self._warehouse = ServedWarehouse(self.warehouse_path)

    def query(self, metrics: str | Iterable[str], group_by: str | Iterable[str] = (), where: Where = (),
              start: TimeBound = None, end: TimeBound = None, grain: str | None = "day",
              order_by: str | Iterable[str] | None = None, limit: int | None = None) -> pd.DataFrame:
        """One row per combination of ``metric_time__<grain>`` and ``group_by`` values, a column per metric.

        ``where``: filters, each ``Filter(dimension, op, value)``, ``(dimension, op, value)`` or a dict.
        ``start``/``end``: the UTC range [start, end); periods of the grain that overlap it are returned
        whole. ``grain=None`` gives totals over the range. Rows are ordered by the columns ``order_by`` names
        (``-name`` for descending), then by time and group-by values.
        """
        explained = self.explain(metrics, group_by, where, start, end, grain, order_by, limit)
        return self._warehouse.run(explained.sql, explained.parameters)

    def explain(self, metrics: str | Iterable[str], group_by: str | Iterable[str] = (), where: Where = (),
                start: TimeBound = None, end: TimeBound = None, grain: str | None = "day",
                order_by: str | Iterable[str] | None = None, limit: int | None = None) -> ExplainedQuery:
        """The SQL :meth:`query` runs for these arguments (values as ``$f0``… parameters) and the values."""
        compiler = self._compiler
        request, values = build_request(compiler.catalog, metrics, group_by, where, start, end, grain,
                                        order_by, limit)
        compiled = compiler.compile(request)
        return ExplainedQuery(compiled.sql, {name: values[name] for name in compiled.parameter_names}, request)

    def sql(self, metrics: str | Iterable[str], group_by: str | Iterable[str] = (), where: Where = (),
            start: TimeBound = None, end: TimeBound = None, grain: str | None = "day",
            order_by: str | Iterable[str] | None = None, limit: int | None = None) -> str:
        """The SQL text :meth:`query` runs for these arguments."""
        return self.explain(metrics, group_by, where, start, end, grain, order_by, limit).sql

    def metrics(self) -> list[MetricInfo]:
        """Every metric the semantic manifest defines."""
        return sorted(self._compiler.catalog.metrics.values(), key=lambda metric: metric.name)

    def dimensions(self, metrics: str | Iterable[str]) -> list[DimensionInfo]:
        """The dimensions all of ``metrics`` can be grouped and filtered by."""
        names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        catalog = self._compiler.catalog
        catalog.check_metrics(names)
        return list(catalog.dimensions(names).values())

    def grains(self, metrics: str | Iterable[str]) -> tuple[str, ...]:
        """The grains ``metrics`` can be asked at."""
        names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
        self._compiler.catalog.check_metrics(names)
        return self._compiler.catalog.grains(names)

    def reconnect(self) -> None:
        """Re-open the warehouse file now (a replaced file is also re-opened by the next query)."""
        self._warehouse.reconnect()

    def refresh(self) -> None:
        """Reload the semantic manifest (dropping compiled SQL) and re-open the warehouse."""
        self._compiler = MetricCompiler(load_semantic_manifest(self.manifest_path), self._cache_size)
        self._warehouse.reconnect()

    def cache_info(self) -> Any:
        """Hits, misses and size of the compiled-SQL cache (``functools.lru_cache`` statistics)."""
        return self._compiler.compile.cache_info()

    def close(self) -> None:
        self._warehouse.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_default: SemanticLayer | None = None
_default_lock = threading.Lock()


def default_layer() -> SemanticLayer:
    """The process's shared layer over the settings' served warehouse (made on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = SemanticLayer()
        return _default
