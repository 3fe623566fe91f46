"""``GET /v1/users/{user_id}`` against a real API process and a real served warehouse (a DuckDB file with
``marts.fct_user_scores``, replaced by rename as the publish does), and the read keys of every /v1 route."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import duckdb
import pytest

from tests.api.conftest import AUTH, ApiServer

SCORES_COLUMNS = """user_id varchar, as_of_date date, churn_probability double, churn_risk_band varchar,
    predicted_revenue double, ltv_horizon_days integer, segment varchar, churn_model_version integer,
    ltv_model_version integer, segments_model_version integer, churn_factor_1 varchar, churn_factor_2 varchar,
    churn_factor_3 varchar"""
FIRST_SCORES = [
    ("user-1", date(2024, 2, 26), 0.12, "low", 80.0, 90, "loyal buyers", 1, 1, 1,
     "no session for 1 days lowers the churn risk", "12 sessions in the last 28 days lowers the churn risk", None),
    ("user-1", date(2024, 3, 4), 0.61, "high", 35.5, 90, "fading", 2, 1, 1,
     "no session for 13 days raises the churn risk", "the free plan raises the churn risk",
     "0 orders in the last 28 days raises the churn risk"),
    ("user-2", date(2024, 3, 4), None, None, 0.0, 90, "new, browsing", None, 1, 1, None, None, None),
]


def publish(served: Path, rows: list[tuple], with_scores: bool = True) -> None:
    """Build a warehouse beside ``served`` and rename it over it, as ``warehouse.build_and_publish`` does."""
    build = served.with_name("analytics.build.duckdb")
    build.unlink(missing_ok=True)
    served.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(build)) as connection:
        connection.execute("create schema marts")
        if with_scores:
            connection.execute(f"create table marts.fct_user_scores ({SCORES_COLUMNS})")
            connection.executemany(f"insert into marts.fct_user_scores values ({', '.join(['?'] * 13)})", rows)
    os.replace(build, served)


@pytest.fixture(scope="module")
def server(api_server) -> ApiServer:
    return api_server()


def served_path(server: ApiServer) -> Path:
    return server.settings.served_warehouse


def test_before_any_warehouse_is_503_saying_what_to_build(server: ApiServer):
    response = server.get("/v1/users/user-1")
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "no_warehouse"
    assert str(served_path(server)) in response.json()["message"]


def test_a_warehouse_without_scores_is_503_saying_what_to_run(server: ApiServer):
    publish(served_path(server), [], with_scores=False)
    response = server.get("/v1/users/user-1")
    assert response.status_code == 503, response.text
    assert response.json()["code"] == "not_ready"
    assert "python -m ml score" in response.json()["message"]


def test_latest_scores_of_a_user_and_a_new_publish_seen_without_a_restart(server: ApiServer):
    publish(served_path(server), FIRST_SCORES)
    response = server.get("/v1/users/user-1")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "user_id": "user-1", "as_of_date": "2024-03-04", "churn_probability": 0.61, "churn_risk_band": "high",
        "predicted_revenue": 35.5, "ltv_horizon_days": 90, "segment": "fading", "churn_model_version": 2,
        "ltv_model_version": 1, "segments_model_version": 1,
        "churn_factors": ["no session for 13 days raises the churn risk", "the free plan raises the churn risk",
                          "0 orders in the last 28 days raises the churn risk"]}
    outside_population = server.get("/v1/users/user-2").json()
    assert (outside_population["churn_probability"], outside_population["churn_risk_band"],
            outside_population["churn_factors"], outside_population["segment"]) == (None, None, [], "new, browsing")

    publish(served_path(server), [*FIRST_SCORES, ("user-1", date(2024, 3, 11), 0.2, "low", 40.0, 90,
                                                  "loyal buyers", 3, 2, 1, "x lowers the churn risk", None, None)])
    answer = server.get("/v1/users/user-1").json()
    assert (answer["as_of_date"], answer["churn_probability"], answer["churn_model_version"],
            answer["churn_factors"]) == ("2024-03-11", 0.2, 3, ["x lowers the churn risk"])


def test_unknown_user_is_404(server: ApiServer):
    publish(served_path(server), FIRST_SCORES)
    response = server.get("/v1/users/nobody")
    assert response.status_code == 404, response.text
    assert (response.json()["code"], response.json()["field"]) == ("unknown_user", "user_id")
    assert "'nobody'" in response.json()["message"]


@pytest.mark.parametrize(("headers", "challenge"), [
    (None, 'Bearer realm="analytics"'),
    ({"Authorization": "Bearer not-a-key"}, 'Bearer realm="analytics", error="invalid_token"'),
    ({"Authorization": "Bearer k-dash-7f3"}, 'Bearer realm="analytics", error="invalid_token"'),  # a prefix
    ({"Authorization": "Basic k-dash-7f3a"}, 'Bearer realm="analytics"'),  # the key, but not as a bearer token
    ({"Authorization": "Bearer"}, 'Bearer realm="analytics"'),
], ids=["no key", "unknown key", "prefix of a key", "basic scheme", "empty token"])
@pytest.mark.parametrize("route", ["GET /v1/users/user-1", "POST /v1/models/churn/predict",
                                   "POST /v1/models/ltv/predict"])
def test_without_a_valid_read_key_is_401(server: ApiServer, route: str, headers, challenge: str):
    method, path = route.split()
    response = server.get(path, headers) if method == "GET" else server.post(path, {"user_ids": ["u"]}, headers)
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"] == challenge
    assert response.json()["code"] == "unauthorized"


def test_every_key_is_accepted_and_logged_by_name(server: ApiServer):
    publish(served_path(server), FIRST_SCORES)
    for key in ("k-dash-7f3a", "k-etl-91c2"):
        assert server.get("/v1/users/user-1", {"Authorization": f"Bearer {key}"}).status_code == 200
    log = server.log()
    assert "GET /v1/users/user-1 by etl" in log and "GET /v1/users/user-1 by dashboard" in log
    assert "k-etl-91c2" not in log and "k-dash-7f3a" not in log


def test_unknown_route_answers_in_the_api_error_shape(server: ApiServer):
    response = server.get("/v1/nothing-here")
    assert response.status_code == 404, response.text
    assert response.json() == {"code": "http_404", "field": None,
                               "message": "Not Found: GET /v1/nothing-here; the routes are listed at /docs"}
    assert server.get("/v1/models/churn/predict").json()["code"] == "http_405"


@pytest.mark.parametrize("path", ["/healthz", "/docs", "/openapi.json"])
def test_health_and_docs_need_no_key(server: ApiServer, path: str):
    assert server.get(path, headers=None).status_code == 200


def test_openapi_document_declares_the_bearer_scheme_and_the_routes(server: ApiServer):
    document = server.get("/openapi.json", headers=None).json()
    assert {"/v1/models/churn/predict", "/v1/models/ltv/predict", "/v1/users/{user_id}", "/healthz"} <= set(
        document["paths"])
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert AUTH  # the module's requests authenticate with a key of the server's ANALYTICS_API_KEYS
