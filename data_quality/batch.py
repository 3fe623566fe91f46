"""What a suite loads for one partition: the rows Great Expectations validates and what goes with them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class Batch:
    """``frame``: the rows, one column per value a rule checks. ``parameters``: the values of the suite
    parameters (bounds that depend on the partition or its history). ``skipped``: rules not evaluated this
    time, and why. ``facts``: figures worth showing next to the verdict (rows read, history used).
    ``sample_columns``: what identifies a row in a sample of offending rows, shown with the rule's own
    columns; they are taken from ``frame`` or from ``details``, columns only shown in samples (same index),
    which Great Expectations never sees."""

    frame: pd.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    sample_columns: tuple[str, ...] = ()
    details: pd.DataFrame | None = None
