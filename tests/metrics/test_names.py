"""Only names the semantic layer defines are accepted; anything else is a ValueError listing the valid ones."""

from __future__ import annotations

import pytest

from metrics import InvalidQueryError, SemanticLayer, UnknownDimensionError, UnknownMetricError

pytestmark = pytest.mark.slow  # a real dbt build of the golden dataset (about 15 s, once)


def test_unknown_metric_lists_the_metrics(layer: SemanticLayer) -> None:
    with pytest.raises(UnknownMetricError) as raised:
        layer.query(["events", "pageviews"])
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.name == "pageviews"
    assert error.valid_names == tuple(metric.name for metric in layer.metrics())
    assert "unknown metric 'pageviews'" in str(error)
    assert "events, events_wow_growth" in str(error) and "bounce_rate" in str(error)


def test_unknown_group_by_lists_the_dimensions_of_the_metrics(layer: SemanticLayer) -> None:
    with pytest.raises(UnknownDimensionError) as raised:
        layer.query("sessions", group_by=["country"])
    error = raised.value
    assert isinstance(error, ValueError)
    assert error.valid_names == tuple(dimension.name for dimension in layer.dimensions("sessions"))
    assert "session__country_code" in error.valid_names and "user__plan" in error.valid_names
    assert "in group_by for metrics sessions" in str(error)


def test_a_dimension_of_another_metric_is_unknown_here(layer: SemanticLayer) -> None:
    with pytest.raises(UnknownDimensionError) as raised:
        layer.query("events", group_by=["session__device_type"])
    assert "event__device_type" in raised.value.valid_names
    assert not any(name.startswith("session__") for name in raised.value.valid_names)


def test_only_dimensions_common_to_all_metrics(layer: SemanticLayer) -> None:
    # every daily metric joins the calendar (calendar_day__is_provisional); sessions and users share the user
    assert [dimension.name for dimension in layer.dimensions(["sessions", "active_users"])] == [
        "calendar_day__is_provisional", "user__plan"]
    with pytest.raises(UnknownDimensionError, match="valid dimensions: calendar_day__is_provisional, user__plan$"):
        layer.query(["sessions", "active_users"], group_by=["session__device_type"])


def test_unknown_filter_dimension(layer: SemanticLayer) -> None:
    with pytest.raises(UnknownDimensionError, match="unknown dimension 'event__nope' in where"):
        layer.query("events", where=[("event__nope", "=", "x")])


def test_metric_time_is_asked_with_grain(layer: SemanticLayer) -> None:
    with pytest.raises(InvalidQueryError, match="grain="):
        layer.query("events", group_by=["metric_time__week"])
    with pytest.raises(InvalidQueryError, match="start= and end="):
        layer.query("events", where=[("metric_time__day", ">=", "2024-03-05")])


@pytest.mark.parametrize("grain", ["hour", "fortnight", "Day"])
def test_unknown_grain_lists_the_grains(layer: SemanticLayer, grain: str) -> None:
    with pytest.raises(InvalidQueryError, match="valid grains: day, week, month, quarter, year"):
        layer.query("events", grain=grain)


def test_time_dimensions_come_per_grain_from_their_own(layer: SemanticLayer) -> None:
    names = {dimension.name for dimension in layer.dimensions("funnel_conversion_rate")}
    assert {"funnel_entry__cohort__week", "funnel_entry__cohort__month"} <= names
    assert "funnel_entry__cohort__day" not in names  # the cohort is a week
    with pytest.raises(UnknownDimensionError):
        layer.query("funnel_conversion_rate", group_by=["funnel_entry__cohort__day"])


def test_order_by_names_a_column_of_the_query(layer: SemanticLayer) -> None:
    with pytest.raises(InvalidQueryError, match="order by one of events, metric_time__day"):
        layer.query("events", order_by=["-revenue"])


@pytest.mark.parametrize("arguments, message", [
    ({"metrics": []}, "no metrics asked for; valid metrics: active_users"),
    ({"metrics": [1]}, "names are strings"),
    ({"metrics": "events", "start": "2024-03-10", "end": "2024-03-10"}, "is not before end"),
    ({"metrics": "events", "start": "last tuesday"}, "not an ISO 8601 date"),
    ({"metrics": "events", "limit": 0}, "not a positive whole number"),
    ({"metrics": "events", "limit": True}, "not a positive whole number"),
    ({"metrics": "events_wow_growth", "grain": None}, "compares each period with an earlier one"),
])
def test_invalid_queries_say_why(layer: SemanticLayer, arguments: dict, message: str) -> None:
    with pytest.raises(InvalidQueryError, match=message.replace("(", r"\(")):
        layer.query(**arguments)


def test_metrics_and_dimensions_are_described(layer: SemanticLayer) -> None:
    for metric in layer.metrics():
        assert metric.description and metric.label, metric.name
        for dimension in layer.dimensions(metric.name):
            assert dimension.description, (metric.name, dimension.name)
