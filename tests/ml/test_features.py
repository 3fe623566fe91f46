"""Features as of a date on the ML dataset: equal to values computed here from the generator's truth and from
raw event rows, and point in time (a warehouse that never saw the events arriving on or after D gives the
same features as of D)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from analytics_settings import load_settings
from ml.features import (
    CATEGORICAL_FEATURES,
    FEATURE_NAMES,
    FEATURE_SET_VERSION,
    FeatureError,
    build_features,
    model_input,
    read_warehouse,
)
from ml.population import (
    LabelWindowOpenError,
    churn_labels,
    churn_population,
    data_through,
    first_provisional_day,
    ltv_targets,
    scoring_date,
    snapshot_dates,
)
from tests.conftest import ML, MlWarehouse, arrival_days_of, warehouse_settings
from warehouse import build_and_publish

# the ml_warehouse fixture costs ~3 minutes on a quiet 2-core machine, and its setup counts in the first test's
# timeout: room for a busy one
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

AS_OF = ML.start + timedelta(days=35)  # 2024-02-05: five weeks in, every visitor has arrived
GAP = timedelta(minutes=30)


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


@pytest.fixture(scope="module")
def features_as_of(ml_warehouse: MlWarehouse) -> pd.DataFrame:
    with connect(ml_warehouse.served) as connection:
        return build_features(connection, AS_OF)


@pytest.fixture(scope="module")
def truth(ml_warehouse: MlWarehouse) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(ml_warehouse.truth / f"{name}.parquet") for name in ("users", "sessions", "orders")}


def at(day: date) -> pd.Timestamp:
    return pd.Timestamp(datetime(day.year, day.month, day.day, tzinfo=UTC))


def chosen_visitors(truth: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Visitors whose history before AS_OF the truth tells exactly: no late (offline-queued) session, no
    skewed clock, signed up at least six days before (late events arrive up to five days late) or never, and
    no session running over midnight of AS_OF. The first few of each kind: a buyer, a signed-up non-buyer,
    a visitor on two devices, an anonymous visitor."""
    users, sessions, orders = truth["users"], truth["sessions"], truth["orders"]
    cutoff = at(AS_OF)
    late = set(sessions.loc[sessions["late"], "visitor_id"])
    straddles = set(sessions.loc[(sessions["start"] < cutoff) & (sessions["end"] >= cutoff), "visitor_id"])
    started = set(sessions.loc[sessions["start"] < cutoff - timedelta(days=6), "visitor_id"])
    buyers = set(orders.loc[orders["order_time"] < cutoff - timedelta(days=6), "visitor_id"])
    clean = users[~users["is_bot"] & (users["clock_skew_ms"] == 0) & users["visitor_id"].isin(started)
                  & ~users["visitor_id"].isin(late | straddles)
                  & (users["signup_at"].isna() | (users["signup_at"] < cutoff - timedelta(days=6)))]
    kinds = {
        "buyer": clean["visitor_id"].isin(buyers),
        "member": clean["signup_at"].notna() & ~clean["visitor_id"].isin(buyers),
        "two devices": clean["anonymous_ids"].map(len) == 2,
        "anonymous": clean["signup_at"].isna(),
    }
    picked = pd.concat([clean[mask].head(2).assign(kind=kind) for kind, mask in kinds.items()])
    assert len(picked) == 8, picked
    return picked


def sessionize(times: list[pd.Timestamp]) -> list[list[pd.Timestamp]]:
    """Runs of times less than 30 minutes apart (the session rule; no run here lasts 24 hours)."""
    runs: list[list[pd.Timestamp]] = []
    for time in sorted(times):
        if runs and time - runs[-1][-1] < GAP:
            runs[-1].append(time)
        else:
            runs.append([time])
    return runs


def expected_from_events(rows: pd.DataFrame) -> dict[str, object]:
    """The features of one user from their raw fct_events rows known before AS_OF, computed in Python."""
    human = rows[~rows["is_bot"]].sort_values(["event_time", "event_id"])
    days_ago = (pd.Timestamp(AS_OF) - pd.to_datetime(human["event_date"])).dt.days
    sessions = [(run[0], run[-1], human[human["event_time"].between(run[0], run[-1])])
                for run in sessionize(list(human["event_time"]))]
    recent = [(start, end, events) for start, end, events in sessions if (AS_OF - start.date()).days <= 28]
    views = [int(events["event_type"].isin(["page", "screen"]).sum()) for _, _, events in recent]
    steps = ["Signed Up", "Email Verified", "Profile Completed", "Order Completed"]
    done = [step in set(human["event_name"]) for step in steps]
    orders = human[human["event_name"] == "Order Completed"]
    first = human.iloc[0]
    library = {"analytics.js": "web", "analytics-ios": "ios", "analytics-android": "android"}
    return {
        "active_days_28d": float(human.loc[days_ago <= 28, "event_date"].nunique()),
        "active_days_lifetime": float(human["event_date"].nunique()),
        "sessions_trend_14d": float(sum((AS_OF - s.date()).days <= 14 for s, _, _ in sessions)
                                    - sum(14 < (AS_OF - s.date()).days <= 28 for s, _, _ in sessions)),
        "avg_session_duration_seconds_28d":
            np.mean([(end - start).total_seconds() for start, end, _ in recent]) if recent else np.nan,
        "avg_pages_per_session_28d": np.mean(views) if recent else np.nan,
        "bounce_rate_28d": np.mean([len(e) == 1 and v == 1 for (_, _, e), v in zip(recent, views)]) if recent else np.nan,
        "funnel_step_reached": float(next((i for i, d in enumerate(done) if not d), 4)),
        "order_days_lifetime": float(orders["event_date"].nunique()),
        "device_type": human.iloc[-1]["device_type"] or "unknown",
        "platform": library[human.iloc[-1]["library_name"]],
        "country_code": human.iloc[-1]["country_code"] or "unknown",
        "acquisition_channel": first["utm_source"] or first["referrer_class"] or "unknown",
        "bot_traffic_share": float(rows["is_bot"].mean()),
    }


def expected_from_truth(visitor: pd.Series, truth: dict[str, pd.DataFrame]) -> dict[str, object]:
    """The features the generator's truth gives: sessions, events, recency, orders, revenue, signup, plan."""
    cutoff = at(AS_OF)
    sessions = truth["sessions"]
    mine = sessions[(sessions["visitor_id"] == visitor["visitor_id"]) & (sessions["start"] < cutoff)]
    started = (pd.Timestamp(AS_OF) - mine["start"].dt.tz_localize(None).dt.normalize()).dt.days
    orders = truth["orders"]
    bought = orders[(orders["visitor_id"] == visitor["visitor_id"]) & (orders["order_time"] < cutoff)]
    order_days = (pd.Timestamp(AS_OF) - bought["order_time"].dt.tz_localize(None).dt.normalize()).dt.days
    revenue = bought["revenue_usd_at_rate"].astype(float)
    signup = visitor["signup_at"]
    expected = {
        "days_since_last_session": float((AS_OF - mine["end"].max().date()).days),
        "days_since_first_seen": float((AS_OF - mine["start"].min().date()).days),
        "days_since_signup": float((AS_OF - signup.date()).days) if pd.notna(signup) else np.nan,
        "plan": visitor["plan"] or "unknown",
        "first_order_days_ago": float(order_days.max()) if len(bought) else np.nan,
        "last_order_days_ago": float(order_days.min()) if len(bought) else np.nan,
        "average_order_value": round(float(revenue.sum()) / len(bought), 6) if len(bought) else np.nan,
    }
    for window, days in (("7d", 7), ("28d", 28), ("90d", 90), ("lifetime", 10_000)):
        expected[f"sessions_{window}"] = float((started <= days).sum())
        expected[f"events_{window}"] = float(mine.loc[started <= days, "events"].sum())
        expected[f"orders_{window}"] = float((order_days <= days).sum())
        expected[f"revenue_{window}"] = round(float(revenue[order_days <= days].sum()), 2)
    expected["overdue_sessions"] = (expected["days_since_last_session"] * expected["sessions_lifetime"]
                                    / expected["days_since_first_seen"])
    return expected


def test_features_equal_values_computed_from_the_truth_and_the_raw_events(
        ml_warehouse: MlWarehouse, features_as_of: pd.DataFrame, truth: dict[str, pd.DataFrame]) -> None:
    visitors = chosen_visitors(truth)
    with connect(ml_warehouse.served) as connection:
        events = connection.execute(
            "select * from marts.fct_events where event_time < $d and received_date < $d",
            {"d": AS_OF}).df()
    assert list(features_as_of.columns) == ["user_id", "as_of_date", *FEATURE_NAMES]
    assert (features_as_of["as_of_date"] == AS_OF).all()
    for _, visitor in visitors.iterrows():
        key = visitor["user_id"] or visitor["anonymous_ids"][0]  # stitched: signed up long before AS_OF
        ids = {visitor["user_id"], *visitor["anonymous_ids"]} - {None}
        rows = events[events["user_id"].isin(ids) | (events["user_id"].isna() & events["anonymous_id"].isin(ids))]
        row = features_as_of[features_as_of["user_id"] == key]
        assert len(row) == 1, (visitor["kind"], key)
        actual = row.iloc[0]
        for name, value in {**expected_from_truth(visitor, truth), **expected_from_events(rows)}.items():
            if isinstance(value, str):
                assert actual[name] == value, (visitor["kind"], key, name)
            else:
                assert actual[name] == pytest.approx(value, abs=1e-6, nan_ok=True), (visitor["kind"], key, name)


def test_every_human_visitor_seen_before_the_date_has_one_row_and_bots_none(
        features_as_of: pd.DataFrame, truth: dict[str, pd.DataFrame]) -> None:
    sessions, users = truth["sessions"], truth["users"]
    cutoff = at(AS_OF) - timedelta(days=6)  # what arrived before AS_OF for sure (offline queues: 5 days)
    seen = users[users["visitor_id"].isin(sessions.loc[sessions["start"] < cutoff, "visitor_id"]) & ~users["is_bot"]]
    # keyed as known at AS_OF: by user id once signed up, by anonymous id until then (even if signed up later)
    signed_up = seen[seen["signup_at"] < cutoff]
    anonymous = seen[seen["signup_at"].isna() | (seen["signup_at"] >= at(AS_OF))]
    assert len(anonymous[anonymous["signup_at"].notna()]) > 10
    bots = users.loc[users["is_bot"], "anonymous_ids"].explode()
    keys = set(features_as_of["user_id"])
    assert features_as_of["user_id"].is_unique
    assert set(signed_up["user_id"]) | set(anonymous["anonymous_ids"].str[0]) <= keys
    started = sessions.loc[(sessions["start"] < at(AS_OF)) & ~sessions["is_bot"], "visitor_id"].nunique()
    assert len(seen) <= len(keys) <= started
    assert not keys & set(bots)
    assert set(features_as_of[CATEGORICAL_FEATURES].dtypes.astype(str)) == {"category"}
    assert (features_as_of[[n for n in FEATURE_NAMES if n not in CATEGORICAL_FEATURES]].dtypes == "float64").all()


def test_features_as_of_d_ignore_everything_that_arrived_on_or_after_d(
        ml_warehouse: MlWarehouse, features_as_of: pd.DataFrame, tmp_path: Path) -> None:
    """A second warehouse built by dbt from the arrival days before AS_OF only (the same lake) knows none
    of the events that arrived later, the late ones of earlier days included: same features as of AS_OF."""
    lake = ml_warehouse.data_dir / "lake"
    days = arrival_days_of(lake)
    earlier = build_and_publish(warehouse_settings(tmp_path, lake, "before"), days[0], str(AS_OF - timedelta(days=1)))
    with connect(earlier) as before, connect(ml_warehouse.served) as full:
        assert data_through(before) == AS_OF - timedelta(days=1)
        (late_arrivals,) = full.execute("select count(*) from marts.fct_events where event_time < $d "
                                        "and received_date >= $d and not is_bot", {"d": AS_OF}).fetchall()[0]
        assert late_arrivals > 100  # the full warehouse does know of events before D that arrived later
        pd.testing.assert_frame_equal(build_features(before, AS_OF), features_as_of)
        # ... which the features as of a later date do see
        later = AS_OF + timedelta(days=3)
        assert not build_features(before, later).equals(build_features(full, later))


def test_features_for_chosen_users_and_several_dates(ml_warehouse: MlWarehouse,
                                                                   features_as_of: pd.DataFrame) -> None:
    # identified users (their events come from several ids, read through the links) and anonymous ones
    keys = sorted(features_as_of["user_id"])
    chosen = [key for key in keys if key.startswith("usr_")][:6] + keys[:2]
    dates = [AS_OF - timedelta(days=7), AS_OF]
    with connect(ml_warehouse.served) as connection:
        both = build_features(connection, dates, user_ids=chosen)
        week_before = build_features(connection, dates[0])
    assert list(zip(both["as_of_date"], both["user_id"])) == sorted(
        {(d, u) for d in dates for u in chosen} & set(zip(pd.concat([week_before, features_as_of])["as_of_date"],
                                                          pd.concat([week_before, features_as_of])["user_id"])))
    pd.testing.assert_frame_equal(
        both[both["as_of_date"] == AS_OF].reset_index(drop=True),
        features_as_of[features_as_of["user_id"].isin(chosen)].reset_index(drop=True), check_categorical=False)


def test_the_warehouse_is_read_under_the_stacks_duckdb_limits(tmp_path: Path) -> None:
    warehouse = tmp_path / "analytics.duckdb"
    duckdb.connect(str(warehouse)).close()
    settings = load_settings(data_dir=tmp_path, duckdb_memory_limit="1GB", duckdb_threads=1)
    with read_warehouse(warehouse, settings) as connection:
        assert connection.execute("select current_setting('memory_limit'), current_setting('threads')").fetchall() \
            == [("953.6 MiB", 1)]  # 1 GB in DuckDB's binary units
        with pytest.raises(duckdb.InvalidInputException, match="read-only"):
            connection.execute("create table written (x int)")


def test_population_labels_and_dates(ml_warehouse: MlWarehouse, features_as_of: pd.DataFrame,
                                     truth: dict[str, pd.DataFrame]) -> None:
    settings = warehouse_settings(ml_warehouse.data_dir, ml_warehouse.data_dir / "lake", "warehouse")
    last_day = ML.start + timedelta(days=ML.days - 1)
    with connect(ml_warehouse.served) as connection:
        through = data_through(connection)
        assert through == last_day + timedelta(days=5)  # offline-queued sessions arrive up to five days late
        assert scoring_date(connection) == through + timedelta(days=1)
        first_open = first_provisional_day(connection)
        assert first_open == through - timedelta(days=settings.provisional_days - 1)
        assert snapshot_dates(connection, 14) == [first_open - timedelta(days=14 + 7 * k)
                                                          for k in range(7)][::-1]
        assert snapshot_dates(connection, 14, as_of=AS_OF) == [date(2024, 1, 8), date(2024, 1, 15),
                                                                         date(2024, 1, 22)]
        population = churn_population(connection, AS_OF, settings)
        labels = churn_labels(connection, AS_OF, settings)
        targets = ltv_targets(connection, AS_OF, settings)
        with pytest.raises(LabelWindowOpenError, match="ANALYTICS_CHURN_HORIZON_DAYS"):
            churn_labels(connection, first_open - timedelta(days=13), settings)
    active = features_as_of[features_as_of["days_since_last_session"] <= 28]
    assert sorted(population["user_id"]) == sorted(active["user_id"])
    assert sorted(labels["user_id"]) == sorted(active["user_id"])

    # the truth: a signed-up visitor with a session in the window is not churned, one without is
    users, sessions = truth["users"], truth["sessions"]
    window = sessions[(sessions["start"] >= at(AS_OF)) & (sessions["start"] < at(AS_OF + timedelta(days=14)))]
    labelled = labels.merge(users.dropna(subset=["user_id"]).drop(columns="churned"), on="user_id")
    assert len(labelled) > 200
    assert (labelled["churned"] == ~labelled["visitor_id"].isin(window["visitor_id"])).all()
    assert labels["churned"].mean() == pytest.approx(0.3, abs=0.15)

    # LTV: every user seen before AS_OF; revenue of the next 90 days (only 33 of them closed here)
    assert sorted(targets["user_id"]) == sorted(features_as_of["user_id"])
    assert set(targets["observed_days"]) == {(first_open - AS_OF).days}
    orders = truth["orders"]
    future = orders[(orders["order_time"] >= at(AS_OF)) & (orders["order_time"] < at(first_open))]
    future = future.assign(usd=future["revenue_usd_at_rate"].astype(float))
    # keyed as known at AS_OF: a visitor who signed up (and so could buy) only later is their anonymous id
    key = users["user_id"].where(users["signup_at"] < at(AS_OF), users["anonymous_ids"].str[0])
    by_user = future.merge(users.assign(key=key), on="visitor_id").groupby("key")["usd"].sum()
    assert len(by_user) > 20 and not by_user.index.str.startswith("usr_").all()
    actual = targets.set_index("user_id")["future_revenue"]
    assert actual.sum() == pytest.approx(future["usd"].sum(), abs=0.01)
    assert actual[by_user.index].to_numpy() == pytest.approx(by_user.to_numpy(), abs=0.01)


def test_model_input_names_the_bad_column(features_as_of: pd.DataFrame) -> None:
    rows = features_as_of.head(3)
    pd.testing.assert_frame_equal(model_input(rows[FEATURE_NAMES]), rows[FEATURE_NAMES], check_categorical=False)
    posted = pd.DataFrame([{**{n: None for n in FEATURE_NAMES}, "sessions_7d": 3, "plan": "pro"}])
    converted = model_input(posted)
    assert converted.loc[0, "sessions_7d"] == 3.0 and np.isnan(converted.loc[0, "revenue_7d"])
    assert converted.loc[0, "plan"] == "pro" and converted.loc[0, "country_code"] == "unknown"
    with pytest.raises(FeatureError, match="'sessions_7d' is missing"):
        model_input(posted.drop(columns=["sessions_7d"]))
    with pytest.raises(FeatureError, match=f"unknown feature 'shoe_size'.*version {FEATURE_SET_VERSION}"):
        model_input(posted.assign(shoe_size=44))
    with pytest.raises(FeatureError, match="'revenue_28d' must be a number"):
        model_input(posted.assign(revenue_28d="lots"))
