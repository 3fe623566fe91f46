"""The Spark session of a lake job: the master and memory come from the settings, so the same job runs on
``local[*]`` or a cluster unchanged."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import TypeVar

from pyspark.sql import SparkSession

from analytics_settings import Settings


def spark_session(settings: Settings, app_name: str) -> tuple[SparkSession, float]:
    """A session for ``app_name`` and the seconds it took to start (reported apart from the job's work)."""
    started = time.perf_counter()
    # The enrichment runs Python on the executors: the interpreter of this job (and its packages), unless
    # PYSPARK_PYTHON names another (on a cluster, one at the same path on every node); PySpark's default
    # `python3` may lack them.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(settings.spark_master)
        .config("spark.driver.memory", settings.spark_driver_memory)
        .config("spark.executor.memory", settings.spark_executor_memory)
        .config("spark.driver.host", settings.spark_driver_host)
        .config("spark.driver.bindAddress", settings.spark_driver_host)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.mapKeyDedupPolicy", "LAST_WIN")  # a query string may repeat a parameter
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.sql.adaptive.enabled", "true")
        .config("spark.sql.parquet.compression.codec", "snappy")
        # A cached DataFrame is stored as plain column batches compressed whole with LZ4: as small as Spark's
        # per-column compression (~200 B an event) for a third of its CPU (which cost as much as parsing the
        # JSON in the first place).
        .config("spark.sql.inMemoryColumnarStorage.compressed", "false")
        .config("spark.rdd.compress", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        # the commit protocol's _SUCCESS and .crc files are noise in a lake we commit by rename ourselves
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.hadoop.parquet.enable.summary-metadata", "false")
        # no .crc side files next to local Parquet: the lake's files are committed by rename
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
    )
    if settings.spark_master.startswith("local"):
        # The jobs list the files they read themselves; Spark lists them again, with a job of one task per
        # path above this threshold. In local mode that job only adds scheduling (~10 s for the ~1,500
        # landing files of a month), so the driver lists them; a cluster keeps the parallel listing.
        builder = builder.config("spark.sql.sources.parallelPartitionDiscovery.threshold", "100000")
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session, time.perf_counter() - started


Report = TypeVar("Report")


def run_job(settings: Settings, app_name: str, work: Callable[[SparkSession], Report]) -> Report:
    """Run ``work`` on a fresh session and stop it; the report gets ``spark_startup_seconds`` (the JVM and
    session start, reported apart) and ``seconds`` (everything)."""
    started = time.perf_counter()
    spark, startup = spark_session(settings, app_name)
    try:
        report = work(spark)
    finally:
        spark.stop()
    report.spark_startup_seconds = round(startup, 2)
    report.seconds = round(time.perf_counter() - started, 2)
    return report
