"""The errors a caller of the semantic layer can cause, each naming the input and the fix."""

from __future__ import annotations

from collections.abc import Iterable


class InvalidQueryError(ValueError):
    """A metric query the semantic layer cannot answer as asked (bad grain, operator, value or range)."""


class UnknownNameError(InvalidQueryError):
    """A name the semantic layer does not define; ``valid_names`` lists the ones it does."""

    kind = "name"

    def __init__(self, name: str, valid_names: Iterable[str], context: str = "") -> None:
        self.name = name
        self.valid_names = tuple(sorted(valid_names))
        where = f" {context}" if context else ""
        super().__init__(
            f"unknown {self.kind} {name!r}{where}; valid {self.kind}s: {', '.join(self.valid_names) or '(none)'}"
        )


class UnknownMetricError(UnknownNameError):
    """A metric name that is not in the semantic manifest."""

    kind = "metric"


class UnknownDimensionError(UnknownNameError):
    """A dimension (group-by, filter or order-by name) not available for the requested metrics."""

    kind = "dimension"


class ManifestNotFoundError(FileNotFoundError):
    """The semantic manifest (written by ``dbt parse``) is missing."""


class WarehouseNotFoundError(FileNotFoundError):
    """The served DuckDB warehouse file does not exist (yet)."""
