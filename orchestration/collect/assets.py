"""The collect layer in Dagster: the landing zone is written by the collector, so Dagster observes it."""

from __future__ import annotations

import dagster as dg

from analytics_settings import load_settings
from collector.access_logs import import_access_logs
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


@dg.asset(key=["landing", "access_logs"], group_name="collect", kinds={"python", "ndjson"})
def access_log_import() -> dg.MaterializeResult:
    """Server-side traffic: nginx/Apache access logs from `ANALYTICS_ACCESS_LOG_DIR` landed as `page` events.

    Only what is new since the last import is read (rotation-aware). The events go through the same landing
    zone as tracked ones, so the landing sensor compacts them with the rest of their arrival day.
    """
    settings = load_settings()
    if settings.access_log_dir is None:
        return dg.MaterializeResult(metadata={"skipped": "ANALYTICS_ACCESS_LOG_DIR is not set", "events": 0})
    report = import_access_logs(settings.access_log_dir, settings.lake_path,
                                settings.data_dir / "state" / "access_logs.json", settings.access_log_site_url,
                                salt=settings.pii_salt.get_secret_value())
    return dg.MaterializeResult(metadata={
        "log_dir": dg.MetadataValue.path(str(settings.access_log_dir)),
        "files_read": report.files,
        "files_unchanged": report.files_unchanged,
        "lines": report.lines,
        "events": report.events,
        "bot_events": report.bots,
        "skipped_by_reason": dg.MetadataValue.json(report.skipped_by_reason),
        "quarantined": report.quarantined,
        "landed_files": dg.MetadataValue.json([str(path) for path in report.landed_files]),
    })


access_log_job = dg.define_asset_job("access_log_import", selection=[access_log_import])
access_log_schedule = dg.ScheduleDefinition(
    job=access_log_job, cron_schedule="5 * * * *", execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every hour: land what the web servers logged since the last import.",
)
