"""Build into a copy of the served warehouse, then publish it with one atomic rename.

Readers attach the served file read-only and never see a half-built warehouse: dbt writes only the build
copy (a fresh copy of the served file, so incremental models continue from what is served), and the copy
replaces the served file with ``os.replace`` once every model and test has passed. A reader that had the
old file open keeps reading it (the old inode lives until it detaches) and sees the new data when it
re-attaches. A failed build leaves the served file untouched; its build copy is discarded by the next one.

Between the dbt build and the publish, every quality suite on the warehouse (``data_quality``, suites that
read the warehouse) validates the build copy: a blocking failure nobody accepted publishes nothing.

The semantic manifest of the same dbt run (the metric definitions) is published next to the served file,
right after it, so the metrics module always reads definitions built with the tables it queries.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from analytics_settings import Settings
from warehouse.lock import under_warehouse_lock
from warehouse.project import build_args, run_dbt


@dataclass(frozen=True)
class BuildCopy:
    """Where a build writes: the warehouse copy, and the dbt target folder (``--target-path``) of the run."""

    file: Path
    target_path: Path


def semantic_manifest_path(warehouse: Path) -> Path:
    """Where the semantic manifest of a published warehouse lives: next to it."""
    return warehouse.with_name(f"{warehouse.stem}.semantic_manifest.json")


def build_and_publish(settings: Settings, arrival_day_from: str | None = None, arrival_day_to: str | None = None,
                      full_refresh: bool = False) -> Path:
    """`dbt build` of the arrival days (all when unset) into the build copy, then publish; the served path."""
    with building(settings, arrival_day_to) as build:
        run_dbt([*build_args(settings, arrival_day_from, arrival_day_to, full_refresh),
                 "--target-path", str(build.target_path)], settings)
    return settings.served_warehouse


@contextmanager
@under_warehouse_lock("build and publish the warehouse")  # a second builder waits; no lake commit meanwhile
def building(settings: Settings, quality_day: str | None = None) -> Iterator[BuildCopy]:
    """Yield a fresh build copy; when the block ends without an exception, run the warehouse's quality suites
    on it (on ``quality_day``, the build's newest day when None) and publish it unless one blocks."""
    build = prepare_build_copy(settings)
    yield build
    check_build_copy(settings, build, quality_day)
    publish(settings, build.target_path / "semantic_manifest.json")


class QualityGateFailed(RuntimeError):
    """A blocking quality rule failed on the build copy; nothing was published."""


def check_build_copy(settings: Settings, build: BuildCopy, day: str | None = None) -> list:
    """Every quality suite on the warehouse, run on the build copy for ``day`` (the newest session day of the
    copy when None); raises ``QualityGateFailed`` when a blocking rule failed that nobody accepted. The
    results (``data_quality.SuiteResult``) are also stored in the quality project, like every validation."""
    from data_quality import SUITES, validate  # Great Expectations is imported by the first validation only

    copy = settings.model_copy(update={"warehouse_path": build.file})
    if day is None:
        with duckdb.connect(str(build.file), read_only=True) as connection:
            [(newest,)] = connection.execute("select max(session_date)::varchar from marts.dim_sessions").fetchall()
        day = newest
    if day is None:  # an empty warehouse: nothing to check
        return []
    results = [validate(info.asset, day, copy) for info in SUITES.values() if info.reads_warehouse]
    blocked = [f"{result.asset} {day} {failure.summary}" for result in results for failure in result.blocking_failures]
    if blocked:
        raise QualityGateFailed("the build copy failed blocking quality rules, so nothing was published: "
                                + "; ".join(blocked) + ". Fix the data and build again, or accept the day: "
                                f"python -m data_quality accept ASSET {day} --reason \"...\"")
    return results


def prepare_build_copy(settings: Settings) -> BuildCopy:
    """Copy the served warehouse to the build path (or start empty), removing what a failed build left."""
    served, build = settings.served_warehouse, settings.build_warehouse
    build.parent.mkdir(parents=True, exist_ok=True)
    for leftover in (build, _wal(build)):
        leftover.unlink(missing_ok=True)
    target_path = build.with_name(f"{build.stem}.dbt-target")
    for folder in (f"{build}.tmp", target_path):  # DuckDB's spill folder (profiles.yml), dbt's artifacts
        shutil.rmtree(folder, ignore_errors=True)
    if served.exists():
        shutil.copyfile(served, build)
    return BuildCopy(build, target_path)


def publish(settings: Settings, semantic_manifest: Path) -> Path:
    """Make the build copy the served warehouse (checkpointed, flushed to disk, renamed over it), then
    install the run's semantic manifest next to it the same way."""
    served, build = settings.served_warehouse, settings.build_warehouse
    with duckdb.connect(str(build)) as connection:  # folds a left-over write-ahead log into the file
        connection.execute("checkpoint")
    _replace(build, served)
    staged = semantic_manifest_path(build)
    shutil.copyfile(semantic_manifest, staged)
    _replace(staged, semantic_manifest_path(served))
    shutil.rmtree(f"{build}.tmp", ignore_errors=True)
    return served


def _replace(source: Path, target: Path) -> None:
    """``os.replace`` with the data and the rename on disk before returning."""
    with open(source, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    directory = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")
