"""The landing zone: append-only NDJSON files, partitioned by arrival, sealed by rename.

Layout under the lake root::

    landing/received_date=YYYY-MM-DD/hour=HH/part-<utc start>-<writer id>-<seq>.ndjson        sealed
    landing/received_date=YYYY-MM-DD/hour=HH/part-<utc start>-<writer id>-<seq>.ndjson.open   being written

Readers only ever read sealed files. A line is on disk once ``append`` returns: the data is fsynced, and
so is the directory whenever a file is created or renamed. ``recover`` repairs what a crash left behind.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

OPEN_SUFFIX = ".open"
SEALED_SUFFIX = ".ndjson"


def partition_key(received_at_ms: int) -> str:
    """The ``received_date=…/hour=…`` folder of an arrival time (UTC, epoch milliseconds)."""
    date_time = time.gmtime(received_at_ms // 1000)
    return f"received_date={time.strftime('%Y-%m-%d', date_time)}/hour={date_time.tm_hour:02d}"


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sealed_files(zone_root: Path, received_date: str | None = None) -> list[Path]:
    """Sealed files of a zone (``landing`` or ``quarantine/…``), optionally of one arrival day, sorted."""
    pattern = f"received_date={received_date or '*'}/hour=*/*{SEALED_SUFFIX}"
    return sorted(zone_root.glob(pattern))


@dataclass(frozen=True)
class ZoneSummary:
    """What a zone holds in sealed files: per arrival day, the number of files and bytes."""

    files_by_day: dict[str, int]
    bytes_by_day: dict[str, int]

    @property
    def files(self) -> int:
        return sum(self.files_by_day.values())

    @property
    def bytes(self) -> int:
        return sum(self.bytes_by_day.values())


def summarize(zone_root: Path) -> ZoneSummary:
    files: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for path in sealed_files(zone_root):
        day = path.parent.parent.name.removeprefix("received_date=")
        files[day] = files.get(day, 0) + 1
        sizes[day] = sizes.get(day, 0) + path.stat().st_size
    return ZoneSummary(files, sizes)


@dataclass
class _OpenFile:
    path: Path
    fd: int
    opened_at: float
    size: int = 0


@dataclass
class LandingZone:
    """Writes lines into one zone of the lake; used from one thread at a time (the group committer)."""

    root: Path
    max_file_bytes: int = 128 * 1024 * 1024
    max_file_age_seconds: float = 300.0
    writer_id: str = field(default_factory=lambda: f"{os.getpid()}-{uuid.uuid4().hex[:8]}")
    _open: dict[str, _OpenFile] = field(default_factory=dict)
    _sequence: int = 0

    def append(self, key: str, data: bytes) -> None:
        """Append complete lines to the open file of partition ``key`` and fsync them.

        On failure the file is cut back to its last durable size and sealed, so no partial line of an
        unacknowledged write is ever followed by acknowledged ones.
        """
        current = self._open.get(key)
        if current is not None and current.size + len(data) > self.max_file_bytes and current.size:
            self._seal(key)
            current = None
        if current is None:
            current = self._create(key)
        try:
            view = memoryview(data)
            while view:
                written = os.write(current.fd, view)
                view = view[written:]
            os.fdatasync(current.fd)
        except OSError:
            self._abandon(key)
            raise
        current.size += len(data)

    def seal_expired(self, now: float | None = None) -> list[Path]:
        """Seal files older than the age limit; returns the sealed paths."""
        now = time.monotonic() if now is None else now
        expired = [k for k, f in self._open.items() if now - f.opened_at >= self.max_file_age_seconds]
        return [path for key in expired if (path := self._seal(key)) is not None]

    def seal_all(self) -> list[Path]:
        return [path for key in list(self._open) if (path := self._seal(key)) is not None]

    def _create(self, key: str) -> _OpenFile:
        folder = self.root / key
        if not folder.is_dir():
            folder.mkdir(parents=True, exist_ok=True)
            for parent in (folder, folder.parent, folder.parent.parent):
                fsync_directory(parent)
        self._sequence += 1
        started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        path = folder / f"part-{started}-{self.writer_id}-{self._sequence:06d}{SEALED_SUFFIX}{OPEN_SUFFIX}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        fsync_directory(folder)
        opened = self._open[key] = _OpenFile(path, fd, time.monotonic())
        return opened

    def _seal(self, key: str) -> Path | None:
        current = self._open.pop(key)
        os.close(current.fd)
        return _seal_path(current.path)

    def _abandon(self, key: str) -> None:
        current = self._open.pop(key)
        try:
            os.ftruncate(current.fd, current.size)
            os.fsync(current.fd)
        except OSError:
            pass  # the start-up repair trims a torn tail; nothing acknowledged is past current.size
        os.close(current.fd)
        try:
            _seal_path(current.path)
        except OSError:
            pass


def _seal_path(open_path: Path) -> Path | None:
    """Rename an open file to its sealed name (deleting it if empty) and fsync the folder."""
    if open_path.stat().st_size == 0:
        open_path.unlink()
        fsync_directory(open_path.parent)
        return None
    sealed = open_path.with_name(open_path.name.removesuffix(OPEN_SUFFIX))
    os.rename(open_path, sealed)
    fsync_directory(open_path.parent)
    return sealed


@dataclass(frozen=True)
class RecoveryReport:
    sealed: int
    torn_bytes_removed: int


def recover(zone_root: Path) -> RecoveryReport:
    """Seal every file a crash left open, first cutting a torn last line (anything after the last newline).

    Only call this when no other writer is using the zone (the collector does it before it serves).
    """
    sealed = torn = 0
    for open_path in sorted(zone_root.glob(f"received_date=*/hour=*/*{OPEN_SUFFIX}")):
        with open(open_path, "r+b") as handle:
            size = handle.seek(0, os.SEEK_END)
            keep = _end_of_last_line(handle, size)
            if keep < size:
                handle.truncate(keep)
                handle.flush()
                os.fsync(handle.fileno())
                torn += size - keep
        sealed += _seal_path(open_path) is not None
    return RecoveryReport(sealed=sealed, torn_bytes_removed=torn)


def _end_of_last_line(handle, size: int, block: int = 64 * 1024) -> int:
    position = size
    while position > 0:
        start = max(0, position - block)
        handle.seek(start)
        chunk = handle.read(position - start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        position = start
    return 0
