"""Predictions for feature rows against a real API process and a real MLflow registry: the champions' exact
scores, explanations that add up, a new champion served without a restart, and every bad input's answer."""

from __future__ import annotations

import json
import math
import os
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.churn import risk_band
from ml.features import FEATURE_NAMES, model_input
from ml.scoring import features_path, write_features
from ml.serving import CHAMPION_CHECK_SECONDS
from tests.api.conftest import ApiServer, register_version
from tests.api.trained import RevenueRateModel, as_json_rows, churn_model, feature_rows

ROWS = 40


@pytest.fixture(scope="module")
def server(api_server) -> ApiServer:
    return api_server()


@pytest.fixture(scope="module")
def champions(server: ApiServer) -> dict:
    """Churn versions 1 and 2 (1 is champion) and an LTV champion, registered in the server's store."""
    first, first_training = churn_model(seed=1)
    second, second_training = churn_model(seed=2)
    versions = {
        "churn_1": register_version(first, "churn", server.settings, first_training),
        "churn_2": register_version(second, "churn", server.settings, second_training, champion=False),
        "ltv": register_version(RevenueRateModel(server.settings.ltv_horizon_days), "ltv", server.settings,
                                feature_rows(10, seed=3)),
    }
    return {"versions": versions, "churn_1": first, "churn_2": second}


def test_no_champion_yet_is_503_saying_what_to_train(server: ApiServer):
    rows = as_json_rows(feature_rows(2, seed=9))
    for name in ("churn", "ltv"):
        response = server.post(f"/v1/models/{name}/predict", {"rows": rows})
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "no_champion"
        assert f"python -m ml train {name}" in response.json()["message"]


def test_churn_scores_and_explanations_of_rows(server: ApiServer, champions: dict):
    rows = feature_rows(ROWS, seed=11)
    response = server.post("/v1/models/churn/predict", {"rows": as_json_rows(rows), "include_contributions": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"] == {"name": "churn", "version": champions["versions"]["churn_1"], "alias": "champion",
                               "run_id": answer["model"]["run_id"], "feature_set_version": "1"}
    assert answer["as_of_date"] is None and answer["churn_horizon_days"] == 14
    model = champions["churn_1"]
    inputs = model_input(rows)
    expected_raw = model.booster.predict(inputs, raw_score=True)
    expected_probability = model.predict(inputs)
    predictions = answer["predictions"]
    assert len(predictions) == ROWS
    for row, prediction in enumerate(predictions):
        assert (prediction["user_id"], prediction["features_source"]) == (None, "request")
        assert prediction["churn_probability"] == pytest.approx(expected_probability[row], abs=1e-12)
        assert prediction["risk_band"] == risk_band(expected_probability[row])
        assert prediction["in_churn_population"] is bool(rows["days_since_last_session"][row] <= 28)
        assert prediction["raw_score"] == pytest.approx(expected_raw[row], abs=1e-9)
        contributions = prediction["contributions"]
        assert list(contributions) == FEATURE_NAMES
        assert sum(contributions.values()) + prediction["expected_value"] == pytest.approx(prediction["raw_score"],
                                                                                          abs=1e-9)
        strongest = sorted(contributions, key=lambda name: -abs(contributions[name]))[:3]
        assert [factor["feature"] for factor in prediction["factors"]] == strongest
        for factor in prediction["factors"]:
            sent = rows[factor["feature"]][row]
            assert factor["value"] == (None if isinstance(sent, float) and math.isnan(sent) else sent)
            assert factor["contribution"] == pytest.approx(contributions[factor["feature"]], abs=1e-12)
            assert factor["direction"] == ("raises" if factor["contribution"] > 0 else "lowers")
            assert factor["text"].endswith(f"{factor['direction']} the churn risk")
    bands = {prediction["risk_band"] for prediction in predictions}
    assert len(bands) >= 2, f"the synthetic rows should span risk bands, got {bands}"


def test_contributions_only_when_asked(server: ApiServer, champions: dict):
    response = server.post("/v1/models/churn/predict", {"rows": as_json_rows(feature_rows(1, seed=12))})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["contributions"] is None
    assert len(response.json()["predictions"][0]["factors"]) == 3


def test_ltv_of_rows(server: ApiServer, champions: dict):
    rows = feature_rows(5, seed=13)
    rows.loc[0, "revenue_90d"] = 45.0
    rows.loc[1, "revenue_90d"] = np.nan
    response = server.post("/v1/models/ltv/predict", {"rows": as_json_rows(rows)})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model"]["name"] == "ltv" and answer["model"]["version"] == champions["versions"]["ltv"]
    assert (answer["ltv_horizon_days"], answer["currency"]) == (90, "USD")
    revenue = [prediction["predicted_revenue"] for prediction in answer["predictions"]]
    assert {prediction["features_source"] for prediction in answer["predictions"]} == {"request"}
    assert revenue[:2] == [45.0, 0.0]  # 45 over 90 days, for 90 days; no revenue known: none predicted
    assert revenue[2:] == pytest.approx(rows["revenue_90d"][2:].fillna(0).tolist(), abs=1e-9)


def test_a_row_the_model_cannot_score_is_422_naming_it(server: ApiServer, champions: dict):
    rows = feature_rows(3, seed=16)
    rows.loc[1, "revenue_90d"] = 1.7e308  # a valid float; times the horizon, not one
    response = server.post("/v1/models/ltv/predict", {"rows": as_json_rows(rows)})
    assert response.status_code == 422, response.text
    assert (response.json()["code"], response.json()["field"]) == ("unscorable_row", "rows[1]")


def test_a_new_champion_is_served_without_a_restart_and_rolled_back(server: ApiServer, champions: dict):
    from ml import registry

    rows = feature_rows(5, seed=14)
    inputs = model_input(rows)

    def served(version: int) -> dict:
        deadline = time.monotonic() + CHAMPION_CHECK_SECONDS + 10
        while True:
            answer = server.post("/v1/models/churn/predict", {"rows": as_json_rows(rows)}).json()
            if answer["model"]["version"] == version or time.monotonic() > deadline:
                return answer
            time.sleep(0.2)

    second = champions["versions"]["churn_2"]
    registry.promote("churn", second, server.settings)
    answer = served(second)
    assert answer["model"]["version"] == second
    assert [p["churn_probability"] for p in answer["predictions"]] == pytest.approx(
        champions["churn_2"].predict(inputs).tolist(), abs=1e-12)
    registry.promote("churn", champions["versions"]["churn_1"], server.settings)  # roll back
    answer = served(champions["versions"]["churn_1"])
    assert answer["model"]["version"] == champions["versions"]["churn_1"]
    assert [p["churn_probability"] for p in answer["predictions"]] == pytest.approx(
        champions["churn_1"].predict(inputs).tolist(), abs=1e-12)
    assert server.process.poll() is None


def _row(**changes) -> dict:
    row = as_json_rows(feature_rows(1, seed=15))[0]
    row.update(changes)
    return row


BAD_INPUTS = [
    # (what, body, status, code, field)
    ("unknown feature", {"rows": [_row(favourite_colour="blue")]}, 422, "invalid_request", "rows[0].favourite_colour"),
    ("numeric feature as text", {"rows": [_row(sessions_7d="many")]}, 422, "invalid_request", "rows[0].sessions_7d"),
    ("numeric feature as a boolean", {"rows": [_row(orders_28d=True)]}, 422, "invalid_request", "rows[0].orders_28d"),
    ("categorical feature as a number", {"rows": [_row(plan=3)]}, 422, "invalid_request", "rows[0].plan"),
    ("missing feature", {"rows": [{k: v for k, v in _row().items() if k != "country_code"}]}, 422,
     "invalid_request", "rows[0].country_code"),
    ("rows and user ids", {"rows": [_row()], "user_ids": ["u1"]}, 422, "invalid_request", "body"),
    ("neither rows nor user ids", {}, 422, "invalid_request", "body"),
    ("no rows", {"rows": []}, 422, "invalid_request", "rows"),
    ("empty user id", {"user_ids": [""]}, 422, "invalid_request", "user_ids[0]"),
    ("unknown request field", {"rows": [_row()], "explain": True}, 422, "invalid_request", "explain"),
    ("a list instead of an object", [_row()], 422, "invalid_request", "body"),
    ("1,001 rows", {"rows": [_row()] * 1001}, 413, "too_many_rows", "rows"),
    ("1,001 user ids", {"user_ids": [f"u{i}" for i in range(1001)]}, 413, "too_many_rows", "user_ids"),
]


@pytest.mark.parametrize(("what", "body", "status", "code", "field"), BAD_INPUTS, ids=[row[0] for row in BAD_INPUTS])
@pytest.mark.parametrize("model", ["churn", "ltv"])
def test_bad_input(server: ApiServer, champions: dict, model: str, what: str, body, status: int, code: str,
                   field: str):
    response = server.post(f"/v1/models/{model}/predict", body)
    assert response.status_code == status, response.text
    answer = response.json()
    assert (answer["code"], answer["field"]) == (code, field), answer
    assert field in answer["message"]


def test_malformed_json_is_422(server: ApiServer, champions: dict):
    response = server.post("/v1/models/churn/predict", None, content=b'{"rows": [',
                           headers={"Authorization": "Bearer k-dash-7f3a", "Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"


def test_non_finite_numbers_are_422(server: ApiServer, champions: dict):
    body = json.dumps({"rows": [_row()]}).replace('"sessions_7d": ', '"sessions_7d": NaN, "x": ', 1)
    response = server.post("/v1/models/churn/predict", None, content=body.encode(),
                           headers={"Authorization": "Bearer k-dash-7f3a", "Content-Type": "application/json"})
    assert response.status_code == 422, response.text


def test_user_ids_without_a_warehouse_is_503_saying_what_to_build(server: ApiServer, champions: dict):
    response = server.post("/v1/models/churn/predict", {"user_ids": ["user-1"]})
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "no_warehouse"
    assert "build and publish" in response.json()["message"]


def publish_arrivals_through(served: Path, day: date) -> None:
    """A served warehouse that holds only its latest arrival day (all that answering from stored features
    reads: a live rebuild would fail on it), renamed over ``served`` as the publish does."""
    build = served.with_name("analytics.build.duckdb")
    build.unlink(missing_ok=True)
    served.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build)) as connection:
        connection.execute("create schema marts")
        connection.execute("create table marts.fct_events as select $day::date as received_date", {"day": day})
    os.replace(build, served)


def stored_rows(seed: int, day: date, user_ids: list[str]) -> pd.DataFrame:
    """Feature rows of ``user_ids`` as the scoring of ``day`` keeps them."""
    return feature_rows(len(user_ids), seed).assign(user_id=user_ids, as_of_date=day)


def test_user_ids_are_answered_from_the_stored_features_of_the_served_warehouses_day(
        server: ApiServer, champions: dict):
    from ml import registry

    settings, users = server.settings, ["user-a", "user-b", "user-c"]
    asked = users[::-1]  # answered in the order asked
    first_day, second_day = date(2024, 3, 4), date(2024, 3, 5)  # scoring dates: the day after the last arrival
    write_features(stored_rows(21, first_day, users), features_path(settings, first_day))
    write_features(stored_rows(22, second_day, users), features_path(settings, second_day))
    churn = registry.load_model("churn", settings).model

    def served_as_of(day: date, rows: pd.DataFrame) -> None:
        expected = rows.set_index("user_id").loc[asked]
        answer = server.post("/v1/models/churn/predict", {"user_ids": asked}).json()
        assert answer["as_of_date"] == day.isoformat(), answer
        assert [p["features_source"] for p in answer["predictions"]] == ["stored"] * len(users)
        assert [p["churn_probability"] for p in answer["predictions"]] == pytest.approx(
            churn.predict(model_input(expected[FEATURE_NAMES])).tolist(), abs=1e-12)
        answer = server.post("/v1/models/ltv/predict", {"user_ids": asked}).json()
        assert answer["as_of_date"] == day.isoformat(), answer
        # the LTV champion: revenue over the last 90 days, for 90 days
        assert [p["predicted_revenue"] for p in answer["predictions"]] == expected["revenue_90d"].fillna(0).tolist()

    publish_arrivals_through(settings.served_warehouse, first_day - timedelta(days=1))
    served_as_of(first_day, stored_rows(21, first_day, users))
    publish_arrivals_through(settings.served_warehouse, second_day - timedelta(days=1))  # a new day is published
    served_as_of(second_day, stored_rows(22, second_day, users))
    rescored = stored_rows(23, second_day, users)  # the day scored again (python -m ml score)
    write_features(rescored, features_path(settings, second_day))
    served_as_of(second_day, rescored)
