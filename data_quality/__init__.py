"""Data quality: one Great Expectations suite per asset, run on one partition at a time.

    from data_quality import validate, build_data_docs, SUITES
    result = validate("bronze/events", "2024-03-11", settings)   # -> SuiteResult
    index = build_data_docs(settings)                             # -> <data_dir>/quality/…/index.html

Importing this package is cheap: Great Expectations (several seconds to import) is loaded by the first
``validate`` or ``build_data_docs``, not when a Dagster code location reads ``SUITES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from data_quality.registry import SUITES, SuiteInfo, suite_info
from data_quality.results import ExpectationResult, Severity, SuiteResult

if TYPE_CHECKING:
    from analytics_settings import Settings

__all__ = ["SUITES", "ExpectationResult", "Severity", "SuiteInfo", "SuiteResult", "build_data_docs", "suite_info",
           "validate", "validate_days"]


def validate(asset: str, partition: str, settings: Settings | None = None) -> SuiteResult:
    """Run the suite of ``asset`` (``"landing/events"``, ``"bronze/events"``, ``"gold/daily_event_rollup"``,
    ``"marts/dim_sessions"``) on ``partition`` (a UTC day, ``YYYY-MM-DD``) and store the result."""
    from data_quality.validation import validate as run

    return run(asset, partition, settings)


def validate_days(asset: str, partitions: list[str], settings: Settings | None = None) -> list[SuiteResult]:
    """``validate`` of several days in one pass (a backfill's range): the same verdict per day, a
    fraction of the cost."""
    from data_quality.validation import validate_days as run

    return run(asset, partitions, settings)


def build_data_docs(settings: Settings | None = None) -> Path:
    """Update the data docs site from the stored results; the path of its ``index.html``."""
    from analytics_settings import load_settings
    from data_quality.project import build_data_docs as build

    return build(settings or load_settings())
