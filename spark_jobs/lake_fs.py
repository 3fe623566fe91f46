"""File operations on the lake through Hadoop's FileSystem API, so a local folder, HDFS or object storage
(s3a://, abfs://, gs://) all work the same way.

Partition folders are replaced by rename: the new folder is written next to the old one, the old one is
moved aside, the new one takes its name, and the old one is deleted. A reader or a crash sees either the
old folder or the new one, never a half-written one.
"""

from __future__ import annotations

import uuid

from pyspark.sql import SparkSession


class LakeFileSystem:
    def __init__(self, spark: SparkSession, root: str):
        self.root = root.rstrip("/")
        jvm = spark.sparkContext._jvm
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._Path(self.root).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        self._fs.mkdirs(self._Path(self.root))

    def uri(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def exists(self, uri: str) -> bool:
        return bool(self._fs.exists(self._Path(uri)))

    def glob(self, pattern: str) -> list[str]:
        statuses = self._fs.globStatus(self._Path(pattern))
        return sorted(str(status.getPath()) for status in (statuses or []))

    def glob_files(self, pattern: str) -> list[tuple[str, int]]:
        """(uri, bytes) of the files matching ``pattern``."""
        statuses = self._fs.globStatus(self._Path(pattern))
        return sorted((str(status.getPath()), int(status.getLen())) for status in (statuses or []) if status.isFile())

    def list_dirs(self, uri: str) -> list[str]:
        if not self.exists(uri):
            return []
        return sorted(str(s.getPath().getName()) for s in self._fs.listStatus(self._Path(uri)) if s.isDirectory())

    def list_files(self, uri: str) -> list[tuple[str, int]]:
        """(name, bytes) of the files directly in ``uri``."""
        if not self.exists(uri):
            return []
        return sorted((str(s.getPath().getName()), int(s.getLen()))
                      for s in self._fs.listStatus(self._Path(uri)) if s.isFile())

    def make_folder(self, uri: str) -> str:
        self._fs.mkdirs(self._Path(uri))
        return uri

    def write_text(self, uri: str, text: str) -> None:
        """Write a small file: staged next to ``uri``, then renamed in (after deleting the old one, as Hadoop renames
        never overwrite): a reader sees the old text, no file, or the new text, never a partial one."""
        staged = f"{uri}.{uuid.uuid4().hex[:8]}.tmp"
        stream = self._fs.create(self._Path(staged), True)
        try:
            stream.write(bytearray(text.encode()))
        finally:
            stream.close()
        if self.exists(uri):
            self.delete(uri)
        self.rename(staged, uri)

    def delete(self, uri: str) -> None:
        self._fs.delete(self._Path(uri), True)

    def rename(self, source: str, target: str) -> None:
        self._fs.mkdirs(self._Path(target).getParent())
        if not self._fs.rename(self._Path(source), self._Path(target)):
            raise OSError(f"could not rename {source} to {target}")

    def staging(self, job: str, days: list[str]) -> str:
        """A fresh folder under ``_staging/`` for a run of ``job`` over ``days`` (sorted); its name holds the first
        and last day."""
        return self.uri("_staging", f"{job}-{days[0]}..{days[-1]}-{uuid.uuid4().hex[:12]}")

    def delete_crashed_staging(self, job: str, days: list[str]) -> None:
        """Delete what crashed runs of ``job`` left for any of ``days`` (sorted), and nothing of runs of others."""
        for name in self.list_dirs(self.uri("_staging")):
            first, _, last = name.removeprefix(f"{job}-")[:22].partition("..")
            if name.startswith(f"{job}-") and first <= days[-1] and last >= days[0]:
                self.delete(self.uri("_staging", name))

    def replace_folder(self, new: str, target: str) -> int:
        """Make ``new`` the folder at ``target`` by renames; files get stable names (part-00000…). Returns the
        bytes of its data files."""
        files = self.list_files(new)
        data_files = [name for name, _ in files if not name.startswith((".", "_"))]
        for index, name in enumerate(data_files):
            self.rename(f"{new}/{name}", f"{new}/{_stable_name(index, name)}")
        for name, _ in files:
            if name.startswith((".", "_")):  # checksums and markers of the writer
                self.delete(f"{new}/{name}")
        aside = None
        if self.exists(target):
            aside = f"{target}.replaced-{uuid.uuid4().hex[:8]}"
            self.rename(target, aside)
        self.rename(new, target)
        if aside is not None:
            self.delete(aside)
        return sum(size for name, size in files if not name.startswith((".", "_")))

    def interrupted_replacements(self, parent: str) -> list[str]:
        """The folders a crash left moved aside under ``parent`` (named ``X.replaced-…``)."""
        return [name for name in self.list_dirs(parent) if ".replaced-" in name]

    def repair_replacements(self, parent: str) -> None:
        """Finish replacements a crash interrupted under ``parent``."""
        for name in self.interrupted_replacements(parent):
            target = f"{parent}/{name.split('.replaced-')[0]}"
            if self.exists(target):
                self.delete(f"{parent}/{name}")
            else:
                self.rename(f"{parent}/{name}", target)


def _stable_name(index: int, spark_name: str) -> str:
    """``part-00003-<uuid>.c000.snappy.parquet`` → ``part-00003.snappy.parquet``: re-runs give the same names."""
    extension = spark_name.split(".", 1)[1].removeprefix("c000.") if "." in spark_name else ""
    return f"part-{index:05d}.{extension}" if extension else f"part-{index:05d}"
