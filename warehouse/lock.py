"""The warehouse lock: one build-and-publish at a time, and no lake commit under a running build.

Whoever builds the warehouse (the Dagster asset, ``make pipeline``, ``python -m warehouse build``) holds it
for the whole build and publish (see ``warehouse.publish.building``), and so does every job that replaces
lake folders dbt reads (the commit step of ``spark_jobs.compact`` and ``spark_jobs.rollup``). So a dbt
build never reads a bronze or gold day while it is being replaced, and two builders never copy, build and
publish over each other.

It is an ``flock`` on ``$ANALYTICS_DATA_DIR/locks/warehouse.lock``: the kernel releases it when its holder
exits, however it exits (``kill -9`` included), so a dead holder never blocks anyone. The holder writes who
it is (pid, host, command, purpose, since) into the file, so a waiting process can name it; a holder that
died leaves that text behind, and the next holder reports it as recovered and overwrites it. ``flock`` is
local to one machine (and unreliable on NFS): every builder and lake job of one stack must run on the
machine that holds the data folder, which is where the Spark driver runs in client mode.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from analytics_settings import Settings

POLL_SECONDS = 0.2
T = TypeVar("T")


class WarehouseLockTimeout(RuntimeError):
    """Another process held the warehouse lock for longer than ANALYTICS_WAREHOUSE_LOCK_TIMEOUT_SECONDS."""


@dataclass(frozen=True)
class Holding:
    """The lock, held: its file, and what a holder that died without releasing it had written (or None)."""

    path: Path
    recovered_from: dict | None


def lock_path(settings: Settings) -> Path:
    return settings.data_dir / "locks" / "warehouse.lock"


@contextmanager
def warehouse_lock(settings: Settings, purpose: str) -> Iterator[Holding]:
    """Hold the warehouse lock for ``purpose`` (e.g. "dbt build and publish"), waiting for the current holder at
    most ANALYTICS_WAREHOUSE_LOCK_TIMEOUT_SECONDS; then :class:`WarehouseLockTimeout` names that holder."""
    path = lock_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + settings.warehouse_lock_timeout_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseLockTimeout(
                        f"cannot {purpose}: the warehouse lock {path} is held by {describe(_read(fd))}; waited "
                        f"{settings.warehouse_lock_timeout_seconds:g} s (ANALYTICS_WAREHOUSE_LOCK_TIMEOUT_SECONDS). "
                        "Wait for that process to finish, or raise the timeout; if it no longer exists, the lock "
                        "is already free") from None
                time.sleep(POLL_SECONDS)
        left_behind = _read(fd)  # we hold it, so any text is from a holder that died before releasing
        _write(fd, {"pid": os.getpid(), "host": socket.gethostname(), "command": " ".join(sys.argv),
                    "purpose": purpose, "since": datetime.now(UTC).isoformat(timespec="seconds")})
        if left_behind:
            print(f"warehouse lock: recovered from {describe(left_behind)}, which died holding it", file=sys.stderr)
        try:
            yield Holding(path, left_behind)
        finally:
            _write(fd, None)
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def under_warehouse_lock(purpose: str) -> Callable[[Callable[..., Iterator[T]]], Callable[..., Iterator[T]]]:
    """Make a generator taking the settings first (a ``@contextmanager`` body) hold the lock while it runs."""
    def wrap(body: Callable[..., Iterator[T]]) -> Callable[..., Iterator[T]]:
        @functools.wraps(body)
        def locked(settings: Settings, *args: object, **kwargs: object) -> Iterator[T]:
            with warehouse_lock(settings, purpose):
                yield from body(settings, *args, **kwargs)
        return locked
    return wrap


def describe(holder: dict | None) -> str:
    if not holder:
        return "a process that wrote no holder information"
    return (f"pid {holder.get('pid')} on {holder.get('host')} ({holder.get('purpose')}: `{holder.get('command')}`, "
            f"since {holder.get('since')})")


def _read(fd: int) -> dict | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 65536).decode(errors="replace").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:  # torn by a holder killed mid-write
        return {"command": text}


def _write(fd: int, holder: dict | None) -> None:
    os.ftruncate(fd, 0)
    if holder is not None:
        os.pwrite(fd, json.dumps(holder).encode(), 0)
    os.fsync(fd)
