"""One real Spark session for the lake tests (starting one costs ~8 s)."""

from __future__ import annotations

import pytest

from analytics_settings import load_settings
from spark_jobs.session import spark_session


@pytest.fixture(scope="session")
def spark():
    session, _ = spark_session(load_settings(spark_master="local[2]", spark_shuffle_partitions=4), "tests")
    yield session
    session.stop()
