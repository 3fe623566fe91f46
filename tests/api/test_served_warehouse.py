"""Predictions by user id against a real API process on a real served warehouse (the ML dataset), with
churn and LTV champions trained on it: features as of now, the champions' exact scores, unknown users."""

from __future__ import annotations

import duckdb
import pytest

from ml import registry
from ml.features import build_features
from ml.population import scoring_date
from tests.api.conftest import ApiServer

# The ML dataset's warehouse (Spark and dbt, minutes) and two training runs come first.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]



@pytest.fixture(scope="module")
def now_features(served_api: ApiServer):
    """The scoring date and the features as of it of every user, computed here from the warehouse file."""
    with duckdb.connect(str(served_api.settings.served_warehouse), read_only=True) as connection:
        as_of = scoring_date(connection)
        features = build_features(connection, as_of,
                                  inactivity_minutes=served_api.settings.session_inactivity_minutes)
    return as_of, features.set_index("user_id")


def chosen_users(features, count: int = 6) -> list[str]:
    """Users in and out of the churn population (recent and long-gone ones), in a fixed order."""
    recent = features.index[features["days_since_last_session"] <= 28][:count // 2]
    gone = features.index[features["days_since_last_session"] > 28][:count - len(recent)]
    return [*recent, *gone]


def test_churn_by_user_id_scores_the_features_as_of_now(served_api: ApiServer, now_features):
    as_of, features = now_features
    user_ids = chosen_users(features)
    response = served_api.post("/v1/models/churn/predict", {"user_ids": user_ids, "include_contributions": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    champion = registry.load_model("churn", served_api.settings)
    assert (answer["model"]["version"], answer["model"]["alias"]) == (champion.version, "champion")
    assert answer["as_of_date"] == as_of.isoformat()
    expected = champion.model.predict(features.loc[user_ids])
    explained = champion.model.explain(features.loc[user_ids].reset_index(drop=True))
    assert [p["user_id"] for p in answer["predictions"]] == user_ids
    for row, prediction in enumerate(answer["predictions"]):
        assert prediction["churn_probability"] == pytest.approx(expected[row], abs=1e-12)
        assert prediction["raw_score"] == pytest.approx(explained.raw_score[row], abs=1e-9)
        assert prediction["in_churn_population"] is bool(features.loc[user_ids[row], "days_since_last_session"] <= 28)
        assert sum(prediction["contributions"].values()) + prediction["expected_value"] == pytest.approx(
            prediction["raw_score"], abs=1e-9)


def test_ltv_by_user_id(served_api: ApiServer, now_features):
    as_of, features = now_features
    user_ids = chosen_users(features)
    user_ids.append(user_ids[0])  # asked twice: answered twice, in the order asked
    response = served_api.post("/v1/models/ltv/predict", {"user_ids": user_ids})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = registry.load_model("ltv", served_api.settings).model.predict(features.loc[user_ids])
    assert answer["as_of_date"] == as_of.isoformat()
    assert [p["user_id"] for p in answer["predictions"]] == user_ids
    assert [p["predicted_revenue"] for p in answer["predictions"]] == pytest.approx(expected.tolist(), abs=1e-9)


@pytest.mark.parametrize("model", ["churn", "ltv"])
def test_unknown_user_is_404_naming_it(served_api: ApiServer, now_features, model: str):
    known = now_features[1].index[0]
    response = served_api.post(f"/v1/models/{model}/predict", {"user_ids": [known, "no-such-user"]})
    assert response.status_code == 404, response.text
    answer = response.json()
    assert (answer["code"], answer["field"]) == ("unknown_user", "user_ids")
    assert "'no-such-user'" in answer["message"] and repr(known) not in answer["message"]


def test_a_user_without_scores_yet_is_404(served_api: ApiServer, now_features):
    # The ML dataset's warehouse was built before any scoring: fct_user_scores is there, empty.
    response = served_api.get(f"/v1/users/{now_features[1].index[0]}")
    assert response.status_code == 404, response.text
    assert "python -m ml score" in response.json()["message"]
