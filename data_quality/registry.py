"""The suites, one per asset, keyed like the Dagster assets they check (``bronze/events`` is
``AssetKey(["bronze", "events"])``).

Only names and descriptions live here, so the registry can be read when a Dagster code location loads;
each suite's module (expectations and batch loading, which import Great Expectations) is imported when a
partition is validated.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType


@dataclass(frozen=True)
class SuiteInfo:
    asset: str
    suite_name: str
    partition: str
    description: str
    module: str

    @property
    def asset_key_path(self) -> list[str]:
        """The Dagster asset key as a list (``dg.AssetKey(info.asset_key_path)``)."""
        return self.asset.split("/")

    def load_module(self) -> ModuleType:
        return importlib.import_module(self.module)


SUITES: dict[str, SuiteInfo] = {info.asset: info for info in (
    SuiteInfo(
        asset="landing/events", suite_name="landing_events", module="data_quality.suites.landing_events",
        partition="arrival day R: the sealed landing lines of received_date=R and what the collector "
                  "quarantined that day",
        description="Stored Segment events as the collector landed them: required fields, types, arrival "
                    "inside the partition, event times, retried messageIds, collector rejects, volume."),
    SuiteInfo(
        asset="bronze/events", suite_name="bronze_events", module="data_quality.suites.bronze_events",
        partition="arrival day R: bronze/events/event_date=*/received_date=R and the lake quarantine of R",
        description="Compacted events: required fields, types, one row per messageId, event times in the "
                    "accepted window, revenue, enrichment coverage, lake quarantine, volume."),
    SuiteInfo(
        asset="gold/daily_event_rollup", suite_name="gold_daily_event_rollup",
        module="data_quality.suites.gold_daily_event_rollup",
        partition="arrival day R: the event days whose bronze received events on R",
        description="Spark's daily rollup against bronze: events and revenue of every group equal bronze."),
    SuiteInfo(
        asset="marts/dim_sessions", suite_name="marts_dim_sessions",
        module="data_quality.suites.marts_dim_sessions",
        partition="day D: the human sessions that started on D, against the 28 days before it",
        description="Session distributions against recent history: duration, events per session, revenue "
                    "per purchase."),
)}


def suite_info(asset: str) -> SuiteInfo:
    """The suite of ``asset`` (``"bronze/events"``; a Dagster ``AssetKey.to_user_string()`` works too)."""
    try:
        return SUITES[asset]
    except KeyError:
        raise KeyError(f"no quality suite for asset {asset!r}; suites exist for {', '.join(SUITES)}") from None
