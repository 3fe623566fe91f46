"""Scores in the warehouse: the scores files dbt reads into `marts.fct_user_scores`, the metrics on them, and
(with the trained champions) `score_users` end to end."""

from __future__ import annotations

import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from analytics_settings import Settings, load_settings
from metrics import SemanticLayer
from ml.features import FEATURE_NAMES, model_input
from ml.scoring import SCORES_SCHEMA, features_path, scores_path, write_atomically
from tests.conftest import query
from warehouse import semantic_manifest_path
from warehouse.project import run_dbt

DAY_1, DAY_2 = date(2024, 3, 21), date(2024, 3, 22)
FACTORS = ("no session for 9 days raises the churn risk", "3 sessions in 28 days lowers the churn risk",
           "plan free raises the churn risk")


def score_row(user_id: str, as_of: date, probability: float | None, band: str | None, revenue: float,
              segment: str) -> dict:
    churned = probability is not None
    return {"user_id": user_id, "as_of_date": as_of, "churn_probability": probability, "churn_risk_band": band,
            "predicted_revenue": revenue, "ltv_horizon_days": 90, "segment": segment,
            "churn_model_version": 3 if churned else None, "ltv_model_version": 2, "segments_model_version": 1,
            **{f"churn_factor_{rank}": FACTORS[rank - 1] if churned else None for rank in (1, 2, 3)}}


SCORES = {
    DAY_1: [score_row("u1", DAY_1, 0.9, "high", 10.0, "fading"),
            score_row("u2", DAY_1, 0.1, "low", 50.0, "loyal buyers")],
    DAY_2: [score_row("u1", DAY_2, 0.8, "high", 5.0, "fading"),
            score_row("u2", DAY_2, 0.7, "high", 40.0, "loyal buyers"),
            score_row("u3", DAY_2, None, None, 1.5, "fading")],
}


def scores_settings(data_dir: Path) -> Settings:
    return load_settings(data_dir=data_dir, lake_uri=str(data_dir / "lake"),
                         warehouse_path=data_dir / "warehouse" / "analytics.duckdb")


def build_scores(settings: Settings) -> Path:
    """dbt build of fct_user_scores alone into the build file (it reads nothing but the scores files)."""
    settings.build_warehouse.parent.mkdir(parents=True, exist_ok=True)
    target = settings.data_dir / "dbt-target"
    run_dbt(["build", "--select", "fct_user_scores", "--target-path", str(target)], settings)
    return target / "semantic_manifest.json"


def test_fct_user_scores_reads_every_scoring_day_and_the_metrics_count_the_latest(tmp_path: Path):
    settings = scores_settings(tmp_path)
    for day, rows in SCORES.items():
        write_atomically(pd.DataFrame(rows, columns=SCORES_SCHEMA.names), scores_path(settings, day))
    manifest = build_scores(settings)

    built = settings.build_warehouse
    assert query(built, "select user_id, as_of_date, churn_probability, churn_risk_band, predicted_revenue, "
                        "ltv_horizon_days, segment, churn_model_version, ltv_model_version, segments_model_version, "
                        "churn_factor_1, churn_factor_3 from marts.fct_user_scores order by all") == [
        ("u1", DAY_1, 0.9, "high", 10.0, 90, "fading", 3, 2, 1, FACTORS[0], FACTORS[2]),
        ("u1", DAY_2, 0.8, "high", 5.0, 90, "fading", 3, 2, 1, FACTORS[0], FACTORS[2]),
        ("u2", DAY_1, 0.1, "low", 50.0, 90, "loyal buyers", 3, 2, 1, FACTORS[0], FACTORS[2]),
        ("u2", DAY_2, 0.7, "high", 40.0, 90, "loyal buyers", 3, 2, 1, FACTORS[0], FACTORS[2]),
        ("u3", DAY_2, None, None, 1.5, 90, "fading", None, 2, 1, None, None),
    ]
    assert query(built, "select count(*) from marts.fct_user_scores where user_hash = hash(user_id)") == [(5,)]

    names = ["high_churn_risk_users", "predicted_revenue", "average_churn_probability"]
    with SemanticLayer(built, manifest) as layer:
        daily = layer.query(names, grain="day")
        assert daily.to_dict("list") == {"metric_time__day": list(pd.to_datetime([DAY_1, DAY_2])),
                                         "high_churn_risk_users": [1, 2], "predicted_revenue": [60.0, 46.5],
                                         "average_churn_probability": [pytest.approx(0.5), pytest.approx(0.75)]}
        # Not additive over days: a week is its latest scoring day (the 22nd), not the sum of both days.
        by_segment = layer.query(names, group_by=["user_score__segment"], grain="week",
                                 order_by=["user_score__segment"])
        assert by_segment[["user_score__segment", *names]].to_dict("list") == {
            "user_score__segment": ["fading", "loyal buyers"], "high_churn_risk_users": [1, 1],
            "predicted_revenue": [6.5, 40.0], "average_churn_probability": [pytest.approx(0.8), pytest.approx(0.7)]}
        by_band = layer.query(["high_churn_risk_users", "predicted_revenue"], group_by=["user_score__churn_risk_band"],
                              start=DAY_1, end=DAY_2, grain="day", order_by=["user_score__churn_risk_band"])
        assert by_band[["user_score__churn_risk_band", "high_churn_risk_users", "predicted_revenue"]].to_dict(
            "list") == {"user_score__churn_risk_band": ["high", "low"], "high_churn_risk_users": [1, 0],
                        "predicted_revenue": [10.0, 50.0]}


def test_without_any_scores_file_fct_user_scores_is_an_empty_typed_table(tmp_path: Path):
    settings = scores_settings(tmp_path)  # no ml/scores folder at all: a fresh install
    build_scores(settings)
    assert query(settings.build_warehouse, "select count(*) from marts.fct_user_scores") == [(0,)]
    assert query(settings.build_warehouse, "select column_name, data_type from information_schema.columns "
                                          "where table_name = 'fct_user_scores' order by ordinal_position") == [
        ("user_id", "VARCHAR"), ("user_hash", "UBIGINT"), ("as_of_date", "DATE"), ("churn_probability", "DOUBLE"),
        ("churn_risk_band", "VARCHAR"), ("predicted_revenue", "DOUBLE"), ("ltv_horizon_days", "INTEGER"),
        ("segment", "VARCHAR"), ("churn_model_version", "INTEGER"), ("ltv_model_version", "INTEGER"),
        ("segments_model_version", "INTEGER"), ("churn_factor_1", "VARCHAR"), ("churn_factor_2", "VARCHAR"),
        ("churn_factor_3", "VARCHAR")]


@pytest.fixture(scope="module")
def trained(ml_warehouse, tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store) -> Settings:
    """A copy of the ML warehouse in a data folder of its own, with champions of the three models trained on it
    (MLflow under the same folder)."""
    from ml.training import KINDS, run

    data_dir = tmp_path_factory.mktemp("scoring")
    served = data_dir / "warehouse" / "analytics.duckdb"
    served.parent.mkdir(parents=True)
    empty_mlflow_store(data_dir)
    shutil.copyfile(ml_warehouse.served, served)
    shutil.copyfile(semantic_manifest_path(ml_warehouse.served), semantic_manifest_path(served))
    settings = load_settings(data_dir=data_dir, lake_uri=str(ml_warehouse.data_dir / "lake"), warehouse_path=served,
                             duckdb_memory_limit="1GB")
    for name in ("churn", "ltv", "segments"):
        assert run(KINDS[name], settings).alias == "champion"
    return settings


def test_ml_score_publishes_every_users_scores_for_the_scoring_day_and_again_the_same(
        trained: Settings, monkeypatch: pytest.MonkeyPatch):
    from ml.__main__ import main
    from ml.features import build_features
    from ml.population import in_churn_population, scoring_date

    monkeypatch.setenv("ANALYTICS_DATA_DIR", str(trained.data_dir))
    monkeypatch.setenv("ANALYTICS_WAREHOUSE_PATH", str(trained.served_warehouse))
    monkeypatch.setenv("ANALYTICS_LAKE_URI", str(trained.lake_root))
    # The champion predicts over the horizon it was trained for, whatever the scoring run's setting says.
    monkeypatch.setenv("ANALYTICS_LTV_HORIZON_DAYS", str(trained.ltv_horizon_days + 1))
    served = trained.served_warehouse
    with duckdb.connect(str(served), read_only=True) as connection:
        day = scoring_date(connection)
        features = build_features(connection, day, inactivity_minutes=trained.session_inactivity_minutes)
    population = set(features.loc[in_churn_population(features, trained), "user_id"])

    assert main(["score"]) == 0
    rows = query(served, "select user_id, as_of_date, churn_probability, churn_risk_band, predicted_revenue, "
                         "ltv_horizon_days, segment, churn_model_version, ltv_model_version, segments_model_version, "
                         "churn_factor_1, churn_factor_2, churn_factor_3 from marts.fct_user_scores order by user_id")
    assert [row[0] for row in rows] == sorted(features["user_id"])  # every user seen before the day, once
    assert {row[1] for row in rows} == {day}
    churn_rows = [row for row in rows if row[2] is not None]
    assert {row[0] for row in churn_rows} == population and len(population) > 100
    for row in churn_rows:
        assert 0 <= row[2] <= 1 and row[3] in {"low", "medium", "high"} and all(row[10:13])
    assert all(row[4] >= 0 and row[5] == trained.ltv_horizon_days and row[6] for row in rows)
    assert {row[7] for row in churn_rows} == {1} and {row[8:10] for row in rows} == {(1, 1)}
    assert len({row[3] for row in churn_rows}) > 1  # the bands tell users apart

    kept = pd.read_parquet(features_path(trained, day))  # what the API serves from: the features scored
    assert list(kept["user_id"]) == sorted(features["user_id"]) and set(kept["as_of_date"]) == {day}
    pd.testing.assert_frame_equal(model_input(kept[FEATURE_NAMES]), features[FEATURE_NAMES], check_categorical=False)

    first = scores_path(trained, day).read_bytes()
    assert main(["score"]) == 0  # idempotent: the same files and the same rows
    assert scores_path(trained, day).read_bytes() == first
    # DuckDB's parallel float sums may move a feature in its last bit from one build to the next
    pd.testing.assert_frame_equal(pd.read_parquet(features_path(trained, day)), kept, rtol=1e-12)
    assert query(served, "select user_id, as_of_date, churn_probability, churn_risk_band, predicted_revenue, "
                         "ltv_horizon_days, segment, churn_model_version, ltv_model_version, segments_model_version, "
                         "churn_factor_1, churn_factor_2, churn_factor_3 from marts.fct_user_scores order by user_id") == rows


def test_a_model_without_champion_leaves_its_columns_null(ml_warehouse, tmp_path: Path, empty_mlflow_store):
    from ml.scoring import score_users_summary

    empty_mlflow_store(tmp_path)
    settings = load_settings(data_dir=tmp_path, warehouse_path=ml_warehouse.served)  # an empty MLflow store
    summary = score_users_summary(ml_warehouse.served, settings)
    assert summary.model_versions == {"churn": None, "ltv": None, "segments": None}
    assert summary.users == 0 and pd.read_parquet(summary.path).empty
    assert summary.path == scores_path(settings, summary.as_of)
    assert not features_path(settings, summary.as_of).exists()  # nothing to serve them with


def test_drift_of_the_latest_scoring_against_the_champions_training_snapshots(trained: Settings):
    from ml.drift import SCORE, TOP_FEATURE_COUNT, champion_age_days, check_churn_drift, record_in_mlflow
    from ml.features import FEATURE_NAMES
    from ml.registry import load_model
    from ml.scoring import score_users
    from ml.tracking import configure

    score_users(trained.served_warehouse, trained)
    report = check_churn_drift(trained.served_warehouse, trained)
    champion = load_model("churn", trained)
    assert (report.champion_version, report.champion_run_id) == (champion.version, champion.run_id)
    assert set(report.psi) == {*FEATURE_NAMES, SCORE} and all(value >= 0 for value in report.psi.values())
    assert len(report.top_features) == TOP_FEATURE_COUNT and set(report.top_features) <= set(FEATURE_NAMES)
    assert 0 <= report.champion_age_days < 1  # trained by this test module
    drifted = [column for column in [SCORE, *report.top_features] if report.psi[column] > trained.drift_psi_threshold]
    assert report.reasons == [f"PSI of {column} is {report.psi[column]:.3f} (> {trained.drift_psi_threshold})"
                              for column in drifted]
    # Eight days later the champion is too old, whatever the drift.
    later = champion_age_days("churn", champion.version, trained, now=time.time() + 8 * 86_400)
    assert 8 <= later < 9
    record_in_mlflow(report, trained)
    logged = configure(trained).get_run(champion.run_id).data.metrics
    assert logged[f"drift_psi_{SCORE}"] == pytest.approx(report.psi[SCORE])


def test_the_warehouse_asset_publishes_the_scores_of_its_run_with_its_marts(
        trained: Settings, monkeypatch: pytest.MonkeyPatch):
    """The chain's warehouse step: dbt build of the marts, scoring with the champions, fct_user_scores, publish."""
    import dagster as dg

    from ml.population import data_through
    from orchestration.lake.assets import arrival_days
    from orchestration.warehouse.assets import build_warehouse_assets, dbt_resource

    for variable, value in {"ANALYTICS_DATA_DIR": trained.data_dir, "ANALYTICS_LAKE_URI": trained.lake_root,
                            "ANALYTICS_WAREHOUSE_PATH": trained.served_warehouse,
                            "ANALYTICS_DUCKDB_MEMORY_LIMIT": "1GB", "ANALYTICS_PIPELINE_START_DATE": "2024-01-01"}.items():
        monkeypatch.setenv(variable, str(value))  # the asset and its dbt process read the settings at run time
    served = trained.served_warehouse
    with duckdb.connect(str(served), read_only=True) as connection:
        last_day = data_through(connection)
    shutil.rmtree(trained.ml_scores_dir, ignore_errors=True)
    warehouse = build_warehouse_assets(arrival_days(date(2024, 1, 1)))
    with dg.instance_for_test() as instance:
        result = dg.materialize([warehouse], partition_key=last_day.isoformat(), instance=instance,
                                resources={"dbt": dbt_resource()})
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey(["ml", "user_scores"]))
        metadata = {key: value.value for key, value in event.asset_materialization.metadata.items()}
    day = last_day + timedelta(days=1)
    [(users, churn_scored, days)] = query(served, "select count(*), count(churn_probability), "
                                                  "list(distinct as_of_date) from marts.fct_user_scores")
    assert days == [day] and users > churn_scored > 100
    assert (metadata["as_of_date"], metadata["rows"], metadata["churn_scored"]) == (day.isoformat(), users, churn_scored)
    assert (metadata["churn_model_version"], metadata["ltv_model_version"], metadata["segments_model_version"]) == (1, 1, 1)
