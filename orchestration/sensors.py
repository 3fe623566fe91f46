"""Run the chain for an arrival day whenever it has sealed landing files that no compaction has read."""

from __future__ import annotations

import hashlib

import dagster as dg

from analytics_settings import load_settings
from lake import LakeReader
from orchestration.daily import daily_job
from orchestration.lake.assets import arrival_days

WAITING = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED]


@dg.sensor(job=daily_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.RUNNING)
def landing_sealed_files_sensor(context: dg.SensorEvaluationContext):
    """Requests a run of the chain for every arrival day with sealed landing files its last compaction did not read.

    The compaction records the files it read (``lake.compaction_record``), so a file sealed while a run was
    compacting its day, whatever its modification time, gets a run of its own. The run key names the unread
    files: while they stay unread (a run in flight, or one that failed: the schedule and `make pipeline`
    retry those) the day gets no second run. Days before ANALYTICS_PIPELINE_START_DATE, and days after today,
    are not partitions and are skipped. A day whose run is still queued gets no second run either: that run
    reads the files sealed by the time it starts.
    """
    settings = load_settings()
    partitions = arrival_days(settings.pipeline_start_date)
    for day, unread in LakeReader.open(settings.lake_root).unprocessed_landing_files().items():
        if not partitions.has_partition_key(day):
            continue
        if context.instance.get_runs(dg.RunsFilter(job_name=daily_job.name, statuses=WAITING,
                                                   tags={"dagster/partition": day}), limit=1):
            context.log.info(f"{day}: a queued run will read its new files")
            continue
        files = hashlib.sha256("\n".join(unread).encode()).hexdigest()[:16]
        yield dg.RunRequest(partition_key=day, run_key=f"{day}:{len(unread)}:{files}")
