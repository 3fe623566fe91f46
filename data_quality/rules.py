"""How a suite declares an expectation: a stable rule name, why the rule exists, and its severity, taken
from ``registry.GATES`` (the one place that decides what blocks).

A blocking rule (Great Expectations severity ``critical``) guards a guarantee that downstream numbers rely
on: its failure stops what depends on the asset. A warning (severity ``warning``) is shown and lets the run
go on. Bounds that change with the partition (the day, the history) are suite parameters
(``{"$PARAMETER": name}``), so a suite's stored definition stays the same from run to run.
"""

from __future__ import annotations

from typing import Any

from great_expectations.expectations.expectation import Expectation

from data_quality.registry import severity
from data_quality.results import Severity

BLOCKING = "critical"
WARNING = "warning"


def rule(asset: str, kind: type[Expectation], name: str, notes: str, sample_columns: tuple[str, ...] = (),
         **kwargs: Any) -> Expectation:
    """Rule ``name`` of ``asset``'s suite, blocking or warning as ``registry.GATES`` says; ``sample_columns``
    are shown with its offending rows besides the suite's own."""
    level = BLOCKING if severity(asset, name) == "blocking" else WARNING
    return kind(severity=level, meta=_meta(name, sample_columns), notes=notes, **kwargs)


def _meta(name: str, sample_columns: tuple[str, ...]) -> dict[str, Any]:
    return {"rule": name, **({"sample_columns": list(sample_columns)} if sample_columns else {})}


def parameter(name: str) -> dict[str, str]:
    """A value given at validation time (``Batch.parameters[name]``)."""
    return {"$PARAMETER": name}


def rule_name(expectation: Any) -> str:
    """The rule name of an expectation or of an expectation configuration from a validation result."""
    return (expectation.meta or {})["rule"]


def sample_columns_of(expectation: Any) -> list[str]:
    return list((expectation.meta or {}).get("sample_columns", []))


def severity_of(expectation: Any) -> Severity:
    value = getattr(expectation.severity, "value", expectation.severity)
    return "blocking" if value == BLOCKING else "warning"
