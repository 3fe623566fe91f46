"""The collect layer in Dagster: the landing zone is written by the collector, so Dagster observes it."""

from __future__ import annotations

import dagster as dg

from analytics_settings import load_settings
from collector.landing import summarize


@dg.observable_source_asset(group_name="collect", kinds={"ndjson"}, key=["landing", "events"])
def landing_events() -> dg.ObserveResult:
    """Events landed by the collector: sealed NDJSON files under `lake/landing/`, by arrival day and hour.

    Each observation reports sealed files and bytes per arrival day; the newest day with data is the
    data version, so downstream partitions know when new data arrived.
    """
    settings = load_settings()
    landing = summarize(settings.lake_path / "landing")
    quarantine = summarize(settings.lake_path / "quarantine" / "collector")
    newest_day = max(landing.files_by_day, default="none")
    return dg.ObserveResult(
        data_version=dg.DataVersion(f"{newest_day}:{landing.files}:{landing.bytes}"),
        metadata={
            "path": dg.MetadataValue.path(str(settings.lake_path / "landing")),
            "sealed_files": landing.files,
            "bytes": landing.bytes,
            "newest_received_date": newest_day,
            "files_by_received_date": dg.MetadataValue.json(landing.files_by_day),
            "quarantine_files": quarantine.files,
        },
    )
