"""What a validation returns: one outcome per expectation, in plain values a Dagster check can show.

No Great Expectations import here (it takes seconds), so code that only reads results stays light.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

Severity = Literal["blocking", "warning"]


@dataclass(frozen=True)
class ExpectationResult:
    """The outcome of one expectation of a suite on one partition.

    ``observed`` is what Great Expectations measured: for a row-by-row expectation the number of offending
    rows (``unexpected_count`` of ``element_count``), for an aggregate one its value (a row count, a sum, a
    list of quantiles). ``expected`` holds the bounds or set it was checked against. ``sample`` is up to five
    offending rows (for an aggregate, the rows at the end of the distribution that moved). A rule that could
    not be evaluated (not enough history) is ``skipped``, counts as passed and says why in ``note``. A
    blocking failure a person accepted (``python -m data_quality accept``) carries ``accepted`` (by, at,
    reason) and no longer blocks.
    """

    name: str
    expectation: str
    severity: Severity
    success: bool
    observed: Any = None
    expected: dict[str, Any] = field(default_factory=dict)
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    sample: list[dict[str, Any]] = field(default_factory=list)
    notes: str = ""
    note: str | None = None
    skipped: bool = False
    accepted: dict[str, str] | None = None

    @property
    def summary(self) -> str:
        """One line for a person: what was observed against what was expected."""
        if self.skipped:
            return f"{self.name}: skipped ({self.note})"
        verdict = "passed" if self.success else "FAILED"
        if self.unexpected_count is not None:
            seen = (f"{self.unexpected_count:,} of {self.element_count or 0:,} rows unexpected "
                    f"({self.unexpected_percent or 0.0:.2f}%)")
        else:
            seen = f"observed {self.observed}"
        bounds = ", ".join(f"{key} {value}" for key, value in self.expected.items())
        accepted = (f" (accepted by {self.accepted['by']} at {self.accepted['at']}: {self.accepted['reason']})"
                    if self.accepted else "")
        return (f"{self.name} [{self.severity}] {verdict}: {seen}" + (f"; expected {bounds}" if bounds else "")
                + accepted)


@dataclass(frozen=True)
class SuiteResult:
    """A suite's verdict on one partition of its asset.

    ``success`` is true when every expectation that was evaluated passed. ``severity`` is ``blocking`` when
    a blocking expectation failed that nobody accepted (what depends on the asset must not run),
    ``warning`` when only warnings (or accepted failures) failed, and None on success. ``facts`` are figures
    the suite read (rows, files, the history behind its bands); ``docs_page`` is the data docs page of this run (rendered by ``build_data_docs``).
    """

    asset: str
    partition: str
    suite: str
    success: bool
    expectations: tuple[ExpectationResult, ...]
    facts: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    run_name: str = ""
    docs_page: str | None = None

    @property
    def blocking_failures(self) -> list[ExpectationResult]:
        """Failed blocking expectations nobody accepted."""
        return [e for e in self.expectations if not e.success and e.severity == "blocking" and not e.accepted]

    @property
    def accepted_failures(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if e.accepted]

    @property
    def warning_failures(self) -> list[ExpectationResult]:
        return [e for e in self.expectations if not e.success and e.severity == "warning"]

    @property
    def severity(self) -> Severity | None:
        if self.blocking_failures:
            return "blocking"
        return "warning" if self.warning_failures or self.accepted_failures else None

    def __getitem__(self, name: str) -> ExpectationResult:
        for expectation in self.expectations:
            if expectation.name == name:
                return expectation
        raise KeyError(f"suite {self.suite} has no expectation {name!r}; it has "
                       f"{', '.join(e.name for e in self.expectations)}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every value a plain str, number, bool, None, list or dict."""
        return plain({**asdict(self), "severity": self.severity,
                      "summaries": [e.summary for e in self.expectations]})


def plain(value: Any) -> Any:
    """``value`` with numpy, pandas, decimal and date values turned into JSON types (NaN, NaT, NA into None)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(item) for item in value]
    if _is_missing(value):
        return None
    if isinstance(value, (datetime, date)):  # pandas Timestamps too
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, int):  # numpy integers and floats subclass these: make them plain
        return int(value)
    if isinstance(value, float):
        return float(value)
    item = getattr(value, "item", None)  # numpy scalars
    if callable(item):
        return plain(item())
    return str(value)


def _is_missing(value: Any) -> bool:
    import pandas as pd  # already loaded wherever results are built; imported late to keep this module light

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # arrays and other containers
        return False
