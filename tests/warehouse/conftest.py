"""The warehouse tests' shared starting point: the golden lake's first week, built once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from analytics_settings import Settings
from tests.conftest import arrival_days_of, warehouse_settings
from warehouse import build_and_publish


@pytest.fixture(scope="session")
def golden_first_week(tmp_path_factory: pytest.TempPathFactory, golden_lake: Path) -> Path:
    """The served warehouse of the golden lake's first seven arrival days, built in one run (a range, as
    `make pipeline` catches up): the tests of the runs that follow start from a copy (a dbt run costs ~15 s
    whatever its size)."""
    days = arrival_days_of(golden_lake)
    return build_and_publish(warehouse_settings(tmp_path_factory.mktemp("first_week"), golden_lake, "served"),
                             days[0], days[6])


def serve_a_copy(warehouse: Path, settings: Settings) -> None:
    """Make a copy of ``warehouse`` the settings' served warehouse."""
    settings.served_warehouse.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(warehouse, settings.served_warehouse)
