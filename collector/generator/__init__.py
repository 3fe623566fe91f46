"""Synthetic product-analytics traffic with known answers.

:mod:`~collector.generator.model` simulates visitors, sessions, a signup funnel, churn, anomalies and the
faults of a real stream (bots, retries, late and clock-skewed clients, malformed payloads);
:mod:`~collector.generator.sinks` delivers the events (landing zone, collector over HTTP, Segment SDK);
:mod:`~collector.generator.truth` writes what was generated, to check the pipeline against.
Run it with ``python -m collector.generator`` (or ``analytics-generate``).
"""

from __future__ import annotations

from collector.generator.model import Anomaly, GeneratorConfig, TrafficModel
from collector.generator.run import RunSummary, generate, run_folder

__all__ = ["Anomaly", "GeneratorConfig", "RunSummary", "TrafficModel", "generate", "run_folder"]
