"""Structured filters: a dimension the manifest defines, an operator from a fixed set, and values.

A filter becomes a MetricFlow where clause whose dimension reference comes from the catalog and whose
values are named parameters (``$f0``, ``$f1_0`` …) bound by DuckDB at execution: no value is ever part of
the SQL text (nor of the Jinja template MetricFlow renders), so a value cannot change the query, and the
compiled SQL is the same whatever the values (one cache entry serves them all).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from metrics.errors import InvalidQueryError

# operator as written by callers -> canonical operator
OPERATORS: dict[str, str] = {
    "=": "=", "==": "=", "eq": "=",
    "!=": "!=", "<>": "!=", "ne": "!=",
    "<": "<", "lt": "<",
    "<=": "<=", "le": "<=",
    ">": ">", "gt": ">",
    ">=": ">=", "ge": ">=",
    "in": "in",
    "not in": "not in",
    "is null": "is null",
    "is not null": "is not null",
    "like": "like",
    "not like": "not like",
}
_LIST_OPERATORS = {"in", "not in"}
_NULL_OPERATORS = {"is null", "is not null"}
_SCALARS = (str, bool, int, float, Decimal, datetime.date)  # datetime.datetime is a datetime.date


@dataclass(frozen=True)
class Filter:
    """``dimension op value``, e.g. ``Filter("event__country_code", "in", ["US", "FR"])``."""

    dimension: str
    op: str = "="
    value: Any = None


@dataclass(frozen=True)
class FilterShape:
    """What of a filter the compiled SQL depends on: the dimension, the operator and how many values."""

    dimension: str
    op: str
    arity: int


def as_filter(item: Filter | Mapping[str, Any] | tuple | list) -> Filter:
    """A Filter from a Filter, a ``(dimension, op[, value])`` tuple or a ``{dimension, op, value}`` dict."""
    if isinstance(item, Filter):
        found = item
    elif isinstance(item, Mapping):
        unknown = set(item) - {"dimension", "op", "value"}
        if "dimension" not in item or unknown:
            raise InvalidQueryError(
                f"filter {dict(item)!r}: write it as {{'dimension': ..., 'op': ..., 'value': ...}}")
        found = Filter(item["dimension"], item.get("op", "="), item.get("value"))
    elif isinstance(item, (tuple, list)) and len(item) in (2, 3):
        found = Filter(*item)
    else:
        raise InvalidQueryError(
            f"filter {item!r}: write it as Filter(dimension, op, value), (dimension, op, value) or a dict")
    if not isinstance(found.dimension, str) or not isinstance(found.op, str):
        raise InvalidQueryError(f"filter {item!r}: the dimension and the operator are strings")
    return found


def canonical_operator(item: Filter) -> str:
    op = OPERATORS.get(" ".join(item.op.lower().split()))
    if op is None:
        raise InvalidQueryError(
            f"filter on {item.dimension!r}: unknown operator {item.op!r}; valid operators: "
            f"{', '.join(dict.fromkeys(OPERATORS))}")
    return op


def filter_values(item: Filter, op: str) -> tuple[Any, ...]:
    """The values ``item`` binds (none for the null tests, one per element for `in`)."""
    if op in _NULL_OPERATORS:
        if item.value is not None:
            raise InvalidQueryError(f"filter on {item.dimension!r}: {op!r} takes no value")
        return ()
    if op in _LIST_OPERATORS:
        if isinstance(item.value, (str, bytes)) or not isinstance(item.value, (list, tuple, set, frozenset)):
            raise InvalidQueryError(
                f"filter on {item.dimension!r}: {op!r} takes a list of values, e.g. ['US', 'FR']")
        values = tuple(sorted(item.value, key=repr) if isinstance(item.value, (set, frozenset)) else item.value)
        if not values:
            raise InvalidQueryError(f"filter on {item.dimension!r}: {op!r} needs at least one value")
    else:
        values = (item.value,)
    for value in values:
        if value is None:
            raise InvalidQueryError(
                f"filter on {item.dimension!r}: None is not a value; use the 'is null' or 'is not null' operator")
        if not isinstance(value, _SCALARS):
            raise InvalidQueryError(
                f"filter on {item.dimension!r}: value {value!r} of type {type(value).__name__} is not a "
                "string, number, boolean, date or datetime")
    return values


def where_template(reference: str, op: str, parameter: str, arity: int) -> str:
    """The MetricFlow where clause for ``reference`` (a catalog template) with named parameters."""
    if op in _NULL_OPERATORS:
        return f"{reference} {op.upper()}"
    if op in _LIST_OPERATORS:
        placeholders = ", ".join(f"${parameter}_{index}" for index in range(arity))
        return f"{reference} {op.upper()} ({placeholders})"
    return f"{reference} {op.upper()} ${parameter}"


def parameter_names(parameter: str, op: str, arity: int) -> tuple[str, ...]:
    """The names :func:`where_template` gives the values, in order."""
    if op in _NULL_OPERATORS:
        return ()
    if op in _LIST_OPERATORS:
        return tuple(f"{parameter}_{index}" for index in range(arity))
    return (parameter,)
