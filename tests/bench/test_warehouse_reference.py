"""The warehouse benchmark's independent reference on hand-computed events, and its verdict."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from bench.warehouse import print_sanity, reference_counts

VARIABLES = {"session_inactivity_minutes": 30, "session_max_hours": 24, "funnels": [
    {"name": "signup", "conversion_window_days": 1, "steps": ["Signed Up", "Email Verified", "Profile Completed"]}]}
STRINGS = ("event_id", "event_type", "event_name", "user_id", "anonymous_id", "previous_id")


def event(event_id: str, kind: str, at: str, user: str | None = None, anonymous: str | None = None,
          name: str | None = None, previous: str | None = None, bot: bool = False) -> dict:
    time = datetime.fromisoformat(at)
    return {"event_id": event_id, "event_type": kind, "event_name": name or kind, "user_id": user,
            "anonymous_id": anonymous, "previous_id": previous, "event_time": time, "event_date": time.date(),
            "is_bot": bot}


def frame(events: list[dict]) -> pd.DataFrame:
    """Events typed as the benchmark reads them from DuckDB (Arrow-backed strings)."""
    return pd.DataFrame(events).astype({column: pd.StringDtype("pyarrow") for column in STRINGS})


EVENTS = frame([
    event("e1", "page", "2024-03-04 10:00", anonymous="a1"),
    event("e2", "identify", "2024-03-04 10:05", user="u1", anonymous="a1"),  # a1 -> u1
    event("e3", "track", "2024-03-04 10:10", user="u1", anonymous="a1", name="Signed Up"),
    event("e4", "page", "2024-03-04 10:50", anonymous="a1"),  # 40 min later: a second session
    event("e5", "alias", "2024-03-04 11:00", user="u9", previous="u1"),  # u1 -> u9, so a1 -> u9 too
    event("e6", "track", "2024-03-05 09:00", user="u9", name="Email Verified"),  # within a day of signing up
    event("e7", "page", "2024-03-04 09:00", anonymous="a2", bot=True),
    event("e8", "page", "2024-03-04 09:10", anonymous="a2", bot=True),
])


def test_the_reference_counts_hand_computed_events():
    assert reference_counts(EVENTS, VARIABLES) == {
        "events": 8,
        "sessions": 4,  # u9: 10:00-10:10, 10:50-11:00, the next day; the bot a2: one
        "identity_links": 2,  # a1 -> u1 (its first link), u1 -> u9
        "funnels": {"signup": [1, 1, 0]},
        # the human u9 only: first seen Monday, active Monday and Tuesday (one ISO week)
        "retention": {"day": {"cohorts": 1, "cohort_users": 1, "retained_users": 2},
                      "week": {"cohorts": 1, "cohort_users": 1, "retained_users": 1}},
    }


def test_a_run_longer_than_the_limit_is_sliced():
    start = datetime(2024, 3, 4)
    # an event every 20 minutes for 25 hours: one run of activity, cut into a 24 h session and a 1 h one
    steady = frame([event(f"s{n:03}", "page", (start + timedelta(minutes=20 * n)).isoformat(), anonymous="a3")
                           for n in range(76)])
    assert reference_counts(steady, VARIABLES)["sessions"] == 2


def test_a_funnel_enters_once_or_on_each_day_of_its_first_step():
    # u1 signs up on Monday and does nothing else; signs up again on Wednesday and verifies 23 h later
    # (inside the one-day window of Wednesday's entry, far outside Monday's)
    events = frame([
        event("f1", "track", "2024-03-04 10:00", user="u1", name="Signed Up"),
        event("f2", "track", "2024-03-06 08:00", user="u1", name="Signed Up"),
        event("f3", "track", "2024-03-06 09:00", user="u1", name="Signed Up"),  # not a new entry: same day
        event("f4", "track", "2024-03-07 07:00", user="u1", name="Email Verified"),
        # u2 verifies exactly one day after signing up: the window is half-open, so that is too late
        event("f5", "track", "2024-03-04 10:00", user="u2", name="Signed Up"),
        event("f6", "track", "2024-03-05 10:00", user="u2", name="Email Verified"),
    ])
    funnel = VARIABLES["funnels"][0]
    each_day = {**VARIABLES, "funnels": [{**funnel, "entry": "each_in_range"}]}
    first_ever = {**VARIABLES, "funnels": [{**funnel, "entry": "first_ever"}]}
    assert reference_counts(events, each_day)["funnels"] == {"signup": [2, 1, 0]}
    assert reference_counts(events, first_ever)["funnels"] == {"signup": [2, 0, 0]}


def test_a_mismatch_is_named():
    counts = reference_counts(EVENTS, VARIABLES)
    assert print_sanity({"full": {"counts": counts}, "reference": {"counts": counts}}) == []
    assert print_sanity({"full": {"counts": {**counts, "sessions": 5}}, "reference": {"counts": counts}}) == [
        "sessions"]
