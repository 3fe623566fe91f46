"""The typical dashboard queries the warehouse benchmark times all run on the golden warehouse."""

from __future__ import annotations

from datetime import date

import pytest

import metrics
from metrics import SemanticLayer
from metrics.typical import TYPICAL_QUERIES, typical_queries
from tests.metrics.conftest import BuiltWarehouse

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)

END = date(2024, 3, 18)


@pytest.mark.parametrize("name, arguments", typical_queries(END).items(), ids=list(typical_queries(END)))
def test_typical_query_answers(layer: SemanticLayer, name: str, arguments: dict) -> None:
    frame = layer.query(**arguments)
    assert len(frame) > 0, name
    assert list(frame.columns[-len(arguments["metrics"]):]) == arguments["metrics"]
    # every metric has values, but day-30 retention: the golden dataset has two weeks
    assert {metric for metric in arguments["metrics"] if frame[metric].notna().any()} == (
        set(arguments["metrics"]) - {"day_30_retention"})


def test_typical_queries_cover_the_days_before_the_end() -> None:
    queries = typical_queries(END)
    assert list(queries) == [typical.name for typical in TYPICAL_QUERIES] and len(queries) >= 12
    assert queries["events per day"]["start"] == date(2024, 3, 4)
    assert all(arguments["end"] == END for arguments in queries.values())


def test_the_range_ends_after_the_last_day_of_the_served_warehouse(
        built_warehouse: BuiltWarehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_WAREHOUSE_PATH", str(built_warehouse.served))
    monkeypatch.setattr("metrics.layer._default", None)
    assert typical_queries() == typical_queries(END)
    metrics.default_layer().close()
