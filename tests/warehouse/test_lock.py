"""The warehouse lock with real processes: a second builder waits or fails naming the holder, a killed holder
leaves nothing blocking, and `python -m warehouse build` goes through it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from analytics_settings import load_settings
from tests.conftest import start_lock_holder
from warehouse.lock import WarehouseLockTimeout, lock_path, warehouse_lock
from warehouse.publish import building


def test_a_second_builder_fails_naming_the_holder_and_a_killed_holder_is_recovered(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, warehouse_lock_timeout_seconds=0.5)
    holder = start_lock_holder(tmp_path, 600)
    try:
        written = json.loads(lock_path(settings).read_text())
        assert (written["pid"], written["purpose"]) == (holder.pid, "hold it for a test")
        started = time.monotonic()
        with pytest.raises(WarehouseLockTimeout) as refused, building(settings):
            pytest.fail("built while another process held the lock")
        assert time.monotonic() - started >= 0.5
        message = str(refused.value)
        assert message.startswith(f"cannot build and publish the warehouse: the warehouse lock {lock_path(settings)} "
                                  f"is held by pid {holder.pid} on ")
        assert "(hold it for a test: `" in message and "lock_holder.py 600`" in message
        assert "ANALYTICS_WAREHOUSE_LOCK_TIMEOUT_SECONDS" in message
        assert not settings.build_warehouse.exists()  # it never started a build copy
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    # the kernel released the dead holder's flock; its text is still there, reported and overwritten
    assert json.loads(lock_path(settings).read_text())["pid"] == holder.pid
    with warehouse_lock(settings, "build after a crash") as holding:
        assert holding.recovered_from["pid"] == holder.pid
        assert json.loads(lock_path(settings).read_text())["pid"] == os.getpid()
    assert lock_path(settings).read_text() == ""  # released cleanly: nothing to recover next time
    with warehouse_lock(settings, "build again") as holding:
        assert holding.recovered_from is None


def test_a_second_builder_waits_for_the_holder_within_the_timeout(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, warehouse_lock_timeout_seconds=60)
    holder = start_lock_holder(tmp_path, 1.5)
    started = time.monotonic()
    with warehouse_lock(settings, "build") as holding:
        waited = time.monotonic() - started
        assert holder.wait(5) == 0 and holding.recovered_from is None
    assert 0.8 < waited < 30


def test_warehouse_build_command_names_the_holder(tmp_path: Path):
    holder = start_lock_holder(tmp_path, 600)
    try:
        build = subprocess.run([sys.executable, "-m", "warehouse", "build"], check=False, capture_output=True,
                               text=True,
                               env={**os.environ, "ANALYTICS_DATA_DIR": str(tmp_path),
                                    "ANALYTICS_WAREHOUSE_LOCK_TIMEOUT_SECONDS": "0.3"}, timeout=120)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert build.returncode == 1
    assert build.stderr.startswith("warehouse build: cannot build and publish the warehouse: the warehouse lock ")
    assert f"is held by pid {holder.pid} on " in build.stderr
