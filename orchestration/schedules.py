"""The daily run of the chain: yesterday's arrival day, once it is complete."""

from __future__ import annotations

from datetime import UTC, timedelta

import dagster as dg

from analytics_settings import load_settings
from orchestration.daily import daily_job
from orchestration.lake.assets import arrival_days


@dg.schedule(job=daily_job, cron_schedule="30 0 * * *", execution_timezone="UTC",
             default_status=dg.DefaultScheduleStatus.RUNNING)
def daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest | dg.SkipReason:
    """At 00:30 UTC, run yesterday's arrival day through the chain (the collector seals its last files within minutes).

    The sensor already compacts days as files are sealed; this run is the one that sees the day complete.
    """
    yesterday = (context.scheduled_execution_time.astimezone(UTC).date() - timedelta(days=1)).isoformat()
    if not arrival_days(load_settings().pipeline_start_date).has_partition_key(yesterday):
        return dg.SkipReason(f"{yesterday} is before ANALYTICS_PIPELINE_START_DATE")
    return dg.RunRequest(run_key=yesterday, partition_key=yesterday)
