"""A metric query as the caller asks it, checked against the catalog and normalized.

The normalized request (:class:`MetricRequest`) holds everything the compiled SQL depends on and nothing
else (filter values are parameters), so it is the key of the compiled-SQL cache.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from metrics.catalog import GRAINS, METRIC_TIME, Catalog
from metrics.errors import InvalidQueryError
from metrics.filters import (
    Filter,
    FilterShape,
    as_filter,
    canonical_operator,
    filter_values,
    parameter_names,
)

TimeBound = datetime.date | datetime.datetime | str | None


@dataclass(frozen=True)
class MetricRequest:
    """A checked query. ``start``/``end`` are the UTC range [start, end); ``end`` is exclusive."""

    metrics: tuple[str, ...]
    group_by: tuple[str, ...]
    filters: tuple[FilterShape, ...]
    start: datetime.datetime | None
    end: datetime.datetime | None
    grain: str | None
    order_by: tuple[str, ...]
    limit: int | None

    @property
    def time_column(self) -> str | None:
        return f"{METRIC_TIME}__{self.grain}" if self.grain else None


def build_request(
    catalog: Catalog,
    metrics: str | Iterable[str],
    group_by: str | Iterable[str] = (),
    where: Iterable[Filter | Mapping[str, Any] | tuple] = (),
    start: TimeBound = None,
    end: TimeBound = None,
    grain: str | None = "day",
    order_by: str | Iterable[str] | None = None,
    limit: int | None = None,
) -> tuple[MetricRequest, dict[str, Any]]:
    """The normalized request and the values of its filter parameters; raises on any unknown name."""
    metric_names = _names(metrics, "metrics")
    catalog.check_metrics(metric_names)

    grains = catalog.grains(metric_names)
    if grain is not None and grain not in grains:
        raise InvalidQueryError(
            f"grain {grain!r} is not available for {', '.join(metric_names)}; valid grains: "
            f"{', '.join(grains) or '(none: these metrics share no time)'}, or None for totals")

    if grain is None:
        for name in metric_names:
            if name in catalog.offset_metrics:
                raise InvalidQueryError(
                    f"metric {name!r} compares each period with an earlier one, so it needs a grain; ask for "
                    f"it with grain= one of {', '.join(grains)}")

    group_names = tuple(catalog.dimension(name, metric_names, "group_by").name
                        for name in _names(group_by, "group_by"))

    if isinstance(where, str):
        raise InvalidQueryError(
            f"where {where!r}: filters are structured, not SQL text; write (dimension, op, value) tuples, "
            "e.g. where=[('event__country_code', '=', 'US')]")
    if isinstance(where, (Filter, Mapping)) or (isinstance(where, tuple) and where and isinstance(where[0], str)):
        where = [where]  # one filter passed on its own
    shapes: list[FilterShape] = []
    parameters: dict[str, Any] = {}
    for index, item in enumerate(where or ()):
        found = as_filter(item)
        dimension = catalog.dimension(found.dimension, metric_names, "where")
        op = canonical_operator(found)
        values = filter_values(found, op)
        shapes.append(FilterShape(dimension.name, op, len(values)))
        parameters.update(zip(parameter_names(f"f{index}", op, len(values)), values, strict=True))

    start_at, end_at = _time(start, "start"), _time(end, "end")
    if grains and grains[0] in GRAINS:
        # Metric time is daily or coarser and MetricFlow widens a range to whole periods anyway, so rounding
        # it out to whole days changes no result and makes one cache entry per day, not per microsecond.
        start_at = _floor_day(start_at) if start_at is not None else None
        end_at = _ceil_day(end_at) if end_at is not None else None
    if start_at is not None and end_at is not None and start_at >= end_at:
        raise InvalidQueryError(f"start {start_at} is not before end {end_at}; the range is [start, end)")

    time_column = f"{METRIC_TIME}__{grain}" if grain else None
    keys = [*([time_column] if time_column else []), *group_names]
    orderable = [*metric_names, *keys]
    ordering = _names(order_by, "order_by") if order_by is not None else ()
    for name in ordering:
        if name.removeprefix("-") not in orderable:
            raise InvalidQueryError(
                f"order_by {name!r} is not a column of this query; order by one of "
                f"{', '.join(orderable)} (prefix '-' for descending)")
    # The time and group-by columns not named break ties, so equal values (and which rows a limit keeps)
    # come in the same order on every run.
    named = {name.removeprefix("-") for name in ordering}
    ordering = (*ordering, *(key for key in keys if key not in named))

    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise InvalidQueryError(f"limit {limit!r} is not a positive whole number")

    request = MetricRequest(metric_names, group_names, tuple(shapes), start_at, end_at, grain, ordering, limit)
    return request, parameters


def _names(value: str | Iterable[str], what: str) -> tuple[str, ...]:
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise InvalidQueryError(f"{what} holds {name!r}; names are strings")
    return tuple(dict.fromkeys(names))


def _time(value: TimeBound, what: str) -> datetime.datetime | None:
    """A naive UTC datetime from a date, a datetime (aware ones are converted) or an ISO 8601 string."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidQueryError(
                f"{what} {value!r} is not an ISO 8601 date or time, e.g. '2024-03-04' or '2024-03-04T12:00:00Z'"
            ) from None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(datetime.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    raise InvalidQueryError(f"{what} {value!r} is not a date, a datetime or an ISO 8601 string")


def _floor_day(moment: datetime.datetime) -> datetime.datetime:
    return datetime.datetime(moment.year, moment.month, moment.day)


def _ceil_day(moment: datetime.datetime) -> datetime.datetime:
    floor = _floor_day(moment)
    return floor if floor == moment else floor + datetime.timedelta(days=1)
