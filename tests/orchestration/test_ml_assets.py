"""The ML layer in Dagster: the model assets, the scores the warehouse asset writes, the weekly schedule and the
drift sensor."""

from __future__ import annotations

import dagster as dg

from orchestration.definitions import defs


def test_ml_assets_are_wired_downstream_of_the_marts_and_upstream_of_fct_user_scores(monkeypatch):
    monkeypatch.setenv("ANALYTICS_PIPELINE_START_DATE", "2025-06-01")
    definitions = defs()
    graph = definitions.resolve_asset_graph()
    models = [dg.AssetKey(["ml", f"{name}_model"]) for name in ("churn", "ltv", "segments")]
    marts = {dg.AssetKey(["marts", name]) for name in ("fct_events", "dim_sessions", "dim_users")}
    scores = dg.AssetKey(["ml", "user_scores"])
    for key in [*models, scores]:
        assert graph.get(key).group_name == "ml"
    for key in models:
        assert graph.get(key).parent_keys == marts and graph.get(key).is_executable
    # The scores are written by the warehouse asset inside its build (not an asset of their own to run), after
    # the marts and the models, and read into marts/fct_user_scores before the publish.
    assert graph.get(scores).parent_keys == marts | set(models) and not graph.get(scores).is_executable
    assert graph.get(dg.AssetKey(["marts", "fct_user_scores"])).parent_keys == {scores}

    training = definitions.resolve_job_def("ml_training")
    assert training.asset_layer.executable_asset_keys == set(models)
    schedule = definitions.resolve_schedule_def("ml_training_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone, schedule.job_name) == (
        "0 2 * * 1", "UTC", "ml_training")
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = definitions.resolve_sensor_def("ml_drift_sensor")
    assert sensor.job_name == "ml_training" and sensor.default_status == dg.DefaultSensorStatus.RUNNING
