"""The lake's layout, and reading it from plain Python (no Spark) wherever the lake is.

One module knows the folders under the lake root (DESIGN: "nobody else spells a lake path"): the landing
zone partitioned by arrival (``landing/received_date=R/hour=HH/*.ndjson``, sealed by rename), bronze
(``bronze/events/event_date=D/received_date=R/``), gold, the compaction records
(``_state/compaction/received_date=R.json``: the landing files each arrival day's last compaction read, and
the event days of later arrival days it rewrote) and the messageIds each arrival day received
(``_state/message_ids/received_date=R/``, what cross-day deduplication reads).

Reading goes through ``pyarrow.fs``, so the orchestration (sensor, ``make pipeline``), the quality checks and
the freshness checks work with a local folder, ``file://``, ``s3://`` (``s3a://``, Hadoop's spelling, is read
as ``s3://``), ``gs://``, ``abfs://`` and ``hdfs://`` alike. The Spark jobs reach the same paths through
Hadoop (``spark_jobs.lake_fs``); only the collector and the access-log import write the landing zone on a
local disk (``Settings.lake_path``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.fs as pafs

LANDING = "landing"
SEALED_SUFFIX = ".ndjson"
BRONZE_EVENTS = ("bronze", "events")
GOLD_ROLLUP = ("gold", "daily_event_rollup")
COMPACTION_RECORDS = ("_state", "compaction")
MESSAGE_IDS = ("_state", "message_ids")  # received_date=R/: every messageId arrival day R received


def compaction_record(received_date: str) -> tuple[str, ...]:
    """The parts, under the lake root, of the record of arrival day ``received_date``'s last compaction."""
    return (*COMPACTION_RECORDS, f"received_date={received_date}.json")


def landing_name(uri: str) -> str:
    """A landing file's name relative to ``landing/`` (``received_date=R/hour=HH/part-….ndjson``), whatever the
    URI scheme it is spelled with: what a compaction record lists."""
    return uri[uri.rindex("/received_date=") + 1:]


@dataclass(frozen=True)
class CompactionRecord:
    """What the last compaction of an arrival day read, when it committed (UTC, from the job's clock), and the
    event days whose later arrivals it rewrote (their rollups are stale)."""

    landing_files: frozenset[str]
    compacted_at: datetime
    later_event_dates: tuple[str, ...] = ()


@dataclass(frozen=True)
class LakeReader:
    """The lake root, opened with ``pyarrow.fs``."""

    filesystem: pafs.FileSystem
    root: str

    @classmethod
    def open(cls, root: str) -> LakeReader:
        """The lake at ``root`` (``Settings.lake_root``: a folder or a URI)."""
        if "://" not in root:
            root = str(Path(root).resolve())
        filesystem, path = pafs.FileSystem.from_uri(root.replace("s3a://", "s3://", 1))
        return cls(filesystem, path.rstrip("/"))

    def path(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def sealed_landing_files(self) -> dict[str, list[pafs.FileInfo]]:
        """The sealed landing files by arrival day (open ``*.ndjson.open`` files are never read)."""
        by_day: dict[str, list[pafs.FileInfo]] = {}
        for info in self.filesystem.get_file_info(pafs.FileSelector(self.path(LANDING), allow_not_found=True,
                                                                    recursive=True)):
            name = info.path[len(self.path(LANDING)) + 1:]
            if info.type == pafs.FileType.File and name.endswith(SEALED_SUFFIX) and name.count("/") == 2:
                by_day.setdefault(name.split("/", 1)[0].removeprefix("received_date="), []).append(info)
        return {day: sorted(files, key=lambda info: info.path) for day, files in sorted(by_day.items())}

    def compaction_records(self) -> dict[str, CompactionRecord]:
        """The record of each compacted arrival day."""
        return {info.base_name.removeprefix("received_date=").removesuffix(".json"): self._record(info.path)
                for info in self.filesystem.get_file_info(pafs.FileSelector(self.path(*COMPACTION_RECORDS),
                                                                            allow_not_found=True))
                if info.type == pafs.FileType.File and info.base_name.endswith(".json")}

    def compaction_record(self, received_date: str) -> CompactionRecord | None:
        """The record of arrival day ``received_date``'s last compaction (None before its first)."""
        path = self.path(*compaction_record(received_date))
        return self._record(path) if self.filesystem.get_file_info(path).type == pafs.FileType.File else None

    def _record(self, path: str) -> CompactionRecord:
        with self.filesystem.open_input_stream(path) as stream:
            record = json.loads(stream.read())
        return CompactionRecord(frozenset(record["landing_files"]), datetime.fromisoformat(record["compacted_at"]),
                                tuple(record.get("later_event_dates", ())))

    def unprocessed_landing_files(self) -> dict[str, list[str]]:
        """Per arrival day, the sealed landing files its last compaction did not read (every file of a day never
        compacted). Decided by name, not by time: a file sealed after a compaction listed the day is unprocessed
        whatever its modification time says."""
        records = self.compaction_records()
        unprocessed = {}
        for day, files in self.sealed_landing_files().items():
            done = records[day].landing_files if day in records else frozenset()
            if missing := [name for name in map(landing_name, (info.path for info in files)) if name not in done]:
                unprocessed[day] = missing
        return unprocessed

    def folders(self, *parts: str, prefix: str) -> list[str]:
        """The names (``prefix`` removed) of the folders directly under ``parts`` that start with ``prefix``."""
        return sorted(info.base_name.removeprefix(prefix)
                      for info in self.filesystem.get_file_info(pafs.FileSelector(self.path(*parts),
                                                                                  allow_not_found=True))
                      if info.type == pafs.FileType.Directory and info.base_name.startswith(prefix)
                      and "." not in info.base_name.removeprefix(prefix))  # not a replacement in flight

    def is_folder(self, *parts: str) -> bool:
        return self.filesystem.get_file_info(self.path(*parts)).type == pafs.FileType.Directory
