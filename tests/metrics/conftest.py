"""A semantic layer over the golden dataset's served warehouse, and a connection for the tests' own SQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from metrics import SemanticLayer
from warehouse import semantic_manifest_path


@dataclass(frozen=True)
class BuiltWarehouse:
    """A published warehouse and the semantic manifest published with it."""

    served: Path
    manifest: Path


@pytest.fixture(scope="session")
def built_warehouse(golden_warehouse: Path) -> BuiltWarehouse:
    """The golden dataset's warehouse (tests/conftest.py), built by `dbt build` and published by rename."""
    return BuiltWarehouse(served=golden_warehouse, manifest=semantic_manifest_path(golden_warehouse))


@pytest.fixture(scope="session")
def layer(built_warehouse: BuiltWarehouse) -> Iterator[SemanticLayer]:
    with SemanticLayer(built_warehouse.served, built_warehouse.manifest) as semantic_layer:
        yield semantic_layer


@pytest.fixture(scope="session")
def marts(built_warehouse: BuiltWarehouse) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection for the tests' own SQL on the marts."""
    connection = duckdb.connect(":memory:")
    connection.execute(f"attach '{built_warehouse.served}' as warehouse (read_only)")
    connection.execute("use warehouse")
    yield connection
    connection.close()
