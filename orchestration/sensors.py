"""Run the chain for an arrival day again whenever the collector seals new landing files for it."""

from __future__ import annotations

import json

import dagster as dg

from analytics_settings import load_settings
from collector.landing import summarize
from orchestration.daily import daily_job
from orchestration.lake.assets import arrival_days

WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


@dg.sensor(job=daily_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sealed_files_sensor(context: dg.SensorEvaluationContext):
    """Requests a run of the chain for every arrival day whose sealed landing files changed since the last tick.

    The cursor maps each arrival day to the (files, bytes) last seen. Days before
    ANALYTICS_PIPELINE_START_DATE, and days after today, are not partitions and are skipped. A day whose
    run is still queued gets no second run: that run reads the files sealed by the time it starts.
    """
    settings = load_settings()
    partitions = arrival_days(settings.pipeline_start_date)
    landing = summarize(settings.lake_path / "landing")
    seen: dict[str, list[int]] = json.loads(context.cursor) if context.cursor else {}
    for day in sorted(landing.files_by_day):
        state = [landing.files_by_day[day], landing.bytes_by_day[day]]
        if seen.get(day) == state or not partitions.has_partition_key(day):
            continue
        seen[day] = state
        if context.instance.get_runs(dg.RunsFilter(job_name=daily_job.name, statuses=WAITING,
                                                   tags={"dagster/partition": day}), limit=1):
            context.log.info(f"{day}: a queued run will read its new files")
            continue
        yield dg.RunRequest(partition_key=day, run_key=f"{day}:{state[0]}:{state[1]}")
    context.update_cursor(json.dumps(seen, sort_keys=True))
