"""The golden dataset (tests/conftest.py), a writable copy of its lake or warehouse to craft bad versions
in, and settings that keep the Great Expectations project of a test in its own folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analytics_settings import Settings, load_settings


def quality_settings(data_dir: Path, lake: Path, warehouse: Path | None = None) -> Settings:
    """Settings that read ``lake`` (and ``warehouse``) and keep the quality project in ``data_dir``."""
    return load_settings(data_dir=data_dir, lake_uri=str(lake), warehouse_path=warehouse,
                         duckdb_memory_limit="1GB", duckdb_threads=2)


@pytest.fixture
def golden(tmp_path: Path, golden_lake: Path) -> Settings:
    """The golden lake, read in place."""
    return quality_settings(tmp_path / "data", golden_lake)


@pytest.fixture
def golden_marts(tmp_path: Path, golden_lake: Path, golden_warehouse: Path) -> Settings:
    """The golden lake and its warehouse, read in place."""
    return quality_settings(tmp_path / "data", golden_lake, golden_warehouse)


@pytest.fixture
def lake(tmp_path: Path, golden_lake: Path) -> Path:
    """A copy of the golden lake, to be made bad."""
    target = tmp_path / "lake"
    shutil.copytree(golden_lake, target)
    return target


@pytest.fixture
def crafted(tmp_path: Path, lake: Path) -> Settings:
    """Settings on the lake copy."""
    return quality_settings(tmp_path / "data", lake)


@pytest.fixture
def warehouse(tmp_path: Path, golden_warehouse: Path) -> Path:
    """A copy of the golden warehouse, to be made bad."""
    target = tmp_path / "warehouse.duckdb"
    shutil.copyfile(golden_warehouse, target)
    return target
