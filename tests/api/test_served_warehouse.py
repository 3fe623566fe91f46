"""Predictions by user id against a real API process on a real served warehouse (the ML dataset), with
churn and LTV champions trained on it: features as of now, the champions' exact scores, unknown users."""

from __future__ import annotations

import duckdb
import pandas as pd
import pyarrow.parquet as pq
import pytest

from ml import registry
from ml.features import FEATURE_NAMES, FEATURE_SET_VERSION, build_features, model_input
from ml.population import scoring_date
from ml.scoring import FEATURE_SET_METADATA, features_path, score_users_summary, write_features
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


def without_source(answer: dict) -> dict:
    return {**answer, "predictions": [{key: value for key, value in prediction.items() if key != "features_source"}
                                      for prediction in answer["predictions"]]}


def same_answer(left: object, right: object) -> bool:
    """Equal, numbers to 1e-12: DuckDB's parallel float sums may move a rebuilt feature in its last bit."""
    if isinstance(left, float) and isinstance(right, float):
        return left == pytest.approx(right, rel=1e-12, abs=1e-12)
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(same_answer(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(map(same_answer, left, right))
    return left == right


def test_the_scorings_stored_features_answer_exactly_as_the_live_rebuild(served_api: ApiServer, now_features):
    """Without a features file the users' features are rebuilt live; once the scoring kept them, the same
    answers (scores, factors, every contribution) come from the stored rows; a user missing from them, and a
    file of another feature set, are rebuilt live again."""
    as_of, features = now_features
    user_ids = chosen_users(features)
    settings = served_api.settings
    stored = features_path(settings, as_of)
    stored.unlink(missing_ok=True)
    asked = {"churn": {"user_ids": user_ids, "include_contributions": True}, "ltv": {"user_ids": user_ids}}
    live = {model: served_api.post(f"/v1/models/{model}/predict", body).json() for model, body in asked.items()}
    for answer in live.values():
        assert [p["features_source"] for p in answer["predictions"]] == ["live"] * len(user_ids), answer

    summary = score_users_summary(settings.served_warehouse, settings)  # the scoring of every build, no publish
    assert summary.as_of == as_of and stored.exists()
    table = pq.read_table(stored)
    assert table.schema.metadata[FEATURE_SET_METADATA] == FEATURE_SET_VERSION.encode()
    kept = table.to_pandas().set_index("user_id")
    assert list(kept.index) == sorted(features.index)  # every user seen before the day, once
    pd.testing.assert_frame_equal(model_input(kept[FEATURE_NAMES]), features[FEATURE_NAMES], check_categorical=False)
    for model, body in asked.items():
        answer = served_api.post(f"/v1/models/{model}/predict", body).json()
        assert [p["features_source"] for p in answer["predictions"]] == ["stored"] * len(user_ids), answer
        assert same_answer(without_source(answer), without_source(live[model]))  # same scores, factors, words

    # A user the file lacks (rewritten: the API reads it again) is rebuilt live, the others stay stored.
    write_features(features.drop(index=user_ids[0]).reset_index(), stored)
    answer = served_api.post("/v1/models/churn/predict", asked["churn"]).json()
    assert [p["features_source"] for p in answer["predictions"]] == ["live"] + ["stored"] * (len(user_ids) - 1)
    assert same_answer(without_source(answer), without_source(live["churn"]))

    # A file of another feature set is not read: every user is rebuilt live.
    stored.unlink()
    pq.write_table(table.replace_schema_metadata({FEATURE_SET_METADATA: b"0"}), stored)
    answer = served_api.post("/v1/models/churn/predict", asked["churn"]).json()
    assert [p["features_source"] for p in answer["predictions"]] == ["live"] * len(user_ids)
    assert same_answer(without_source(answer), without_source(live["churn"]))
    stored.unlink()
