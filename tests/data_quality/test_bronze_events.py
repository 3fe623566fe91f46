"""The bronze suite: every expectation passes on the golden dataset and fails on a bad copy of it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from analytics_settings import Settings
from data_quality import validate
from tests.conftest import arrival_days_of
from tests.data_quality.crafting import bronze_files, count, move_arrival_day, rewrite_parquet

pytestmark = pytest.mark.slow

DAY = "2024-03-11"
BRONZE_OF_DAY = "read_parquet('{lake}/bronze/events/event_date=*/received_date=2024-03-11/*.parquet')"
RULES = ["quarantine_share", "required_fields", "type_in_spec", "message_id_unique", "event_time_window",
         "revenue_not_negative", "device_parsed", "country_resolved", "volume_band"]


def failed(result) -> set[str]:
    return {e.name for e in result.expectations if not e.success}


def test_every_arrival_day_of_the_simulated_fortnight_passes(golden: Settings, golden_lake: Path):
    days = [day for day in arrival_days_of(golden_lake) if day <= "2024-03-17"]
    assert len(days) == 14
    for day in days:
        result = validate("bronze/events", day, golden)
        assert [e.name for e in result.expectations] == RULES
        assert result.success, (day, [e.summary for e in result.expectations if not e.success])
        assert result.severity is None
    # the volume rules need two earlier weeks: the first weeks of the golden dataset have none
    assert result["volume_band"].skipped and "fewer than 2 earlier weeks" in result["volume_band"].note
    assert result.facts["bronze_rows"] == count(golden_lake, "SELECT count(*) FROM read_parquet("
                                                "'{lake}/bronze/events/event_date=*/received_date=2024-03-17/*.parquet')")


def test_the_golden_day_after_the_simulation_ends_is_a_collapsed_volume_that_warns(golden: Settings):
    """On 2024-03-18 only late offline sessions arrive (25 events) while the same weekday had 465 and 1,755:
    the volume band warns, as it would for a day the collector lost, and blocks nothing."""
    result = validate("bronze/events", "2024-03-18", golden)
    assert failed(result) == {"volume_band"}
    assert result.severity == "warning"
    band = result["volume_band"]
    assert band.observed == 25
    assert band.expected == {"min_value": 777, "max_value": 1665}  # 0.7 and 1.5 × median(465, 1755)
    assert result.facts["volume_history"] == {"2024-03-04": 465, "2024-02-26": None, "2024-03-11": 1755}
    assert not result.facts["volume_new_level"]


def test_a_duplicated_message_id_blocks(crafted: Settings, lake: Path):
    first = bronze_files(lake, DAY, DAY)[0]
    rewrite_parquet(first, "SELECT * FROM file UNION ALL (SELECT * FROM file ORDER BY message_id LIMIT 1)")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"message_id_unique"}
    assert result.severity == "blocking"
    unique = result["message_id_unique"]
    assert unique.unexpected_count == 2 and unique.element_count == 1756
    assert len(unique.sample) == 2 and unique.sample[0]["message_id"] == unique.sample[1]["message_id"]
    assert unique.sample[0]["file"].startswith(f"bronze/events/event_date={DAY}/received_date={DAY}/")


def test_a_negative_revenue_warns(crafted: Settings, lake: Path):
    target = next(path for path in bronze_files(lake, DAY)
                  if count(lake, f"SELECT count(revenue) FROM read_parquet('{path}')"))
    rewrite_parquet(target, "SELECT * REPLACE (CASE WHEN revenue IS NOT NULL THEN -revenue END AS revenue) FROM file")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"revenue_not_negative"}
    assert result.severity == "warning"  # see data_quality.registry.GATES
    revenue = result["revenue_not_negative"]
    negative = count(lake, f"SELECT count(*) FROM {BRONZE_OF_DAY} WHERE revenue < 0")
    assert negative >= 1 and revenue.unexpected_count == negative
    assert all(row["revenue"] < 0 and row["event_name"] == "Order Completed" for row in revenue.sample)


def test_a_broken_user_agent_parser_warns(crafted: Settings, lake: Path):
    for path in bronze_files(lake, DAY):
        rewrite_parquet(path, "SELECT * REPLACE ('other' AS device_type, NULL AS browser, NULL AS os) FROM file")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"device_parsed"}
    assert result.severity == "warning"  # see data_quality.registry.GATES
    device = result["device_parsed"]
    assert device.unexpected_count == device.element_count == 1755
    assert device.sample[0]["client_device_type"] == "other" and device.sample[0]["user_agent"]


def test_a_broken_geo_lookup_warns(crafted: Settings, lake: Path):
    for path in bronze_files(lake, DAY):
        rewrite_parquet(path, "SELECT * REPLACE (CASE WHEN hash(message_id) % 5 = 0 THEN country END AS country) "
                              "FROM file")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"country_resolved"}
    assert result.severity == "warning"  # see data_quality.registry.GATES
    country = result["country_resolved"]
    unresolved = count(lake, f"SELECT count(*) FROM {BRONZE_OF_DAY} WHERE country IS NULL")
    assert country.unexpected_count == unresolved and unresolved > 0.5 * 1755


def test_a_row_without_identity_or_name_blocks(crafted: Settings, lake: Path):
    rewrite_parquet(bronze_files(lake, DAY, DAY)[0],
                    "SELECT * REPLACE (CASE WHEN row_number() OVER (ORDER BY message_id) = 1 THEN NULL ELSE user_id "
                    "END AS user_id, CASE WHEN row_number() OVER (ORDER BY message_id) = 1 THEN NULL ELSE "
                    "anonymous_id END AS anonymous_id, CASE WHEN row_number() OVER (ORDER BY message_id) = 2 THEN "
                    "NULL ELSE event_name END AS event_name) FROM file")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"required_fields"}
    required = result["required_fields"]
    assert required.unexpected_count == 2
    assert sorted(row["missing_fields"] for row in required.sample) == ["event_name", "user_id or anonymous_id"]


def test_a_type_outside_the_spec_blocks(crafted: Settings, lake: Path):
    rewrite_parquet(bronze_files(lake, DAY, DAY)[0],
                    "SELECT * REPLACE (CASE WHEN type = 'group' THEN 'grouped' ELSE type END AS type) FROM file")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"type_in_spec"}
    assert {row["type"] for row in result["type_in_spec"].sample} == {"grouped"}


def test_an_event_time_outside_the_window_blocks(crafted: Settings, lake: Path):
    rewrite_parquet(bronze_files(lake, DAY, DAY)[0],
                    "SELECT * REPLACE (CASE WHEN row_number() OVER (ORDER BY message_id) = 1 "
                    "THEN received_at + INTERVAL 30 HOURS ELSE event_time END AS event_time) FROM file")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"event_time_window"}
    window = result["event_time_window"]
    assert window.unexpected_count == 1 and window.sample[0]["event_offset_hours"] == pytest.approx(30)
    assert window.expected == {"min_value": -720.0, "max_value": 23.0}


def test_a_high_lake_quarantine_share_warns(crafted: Settings, lake: Path):
    quarantine = lake / "quarantine" / "lake" / f"received_date={DAY}" / "part-00000.json"
    lines = [{"reason": "unparseable_timestamp", "message": "…", "received_date": DAY,
              "source_file": f"file://{lake}/landing/received_date={DAY}/hour=10/part-x.ndjson",
              "line": json.dumps({"messageId": f"q{i}", "timestamp": "yesterday"})} for i in range(100)]
    quarantine.write_text("".join(json.dumps(line) + "\n" for line in lines))
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"quarantine_share"}
    assert result.severity == "warning"  # see data_quality.registry.GATES
    share = result["quarantine_share"]
    assert (share.unexpected_count, share.element_count) == (100, 1855)
    assert share.sample[0] == {"quarantine_reason": "unparseable_timestamp", "quarantined_message_id": "q0",
                               "file": f"landing/received_date={DAY}/hour=10/part-x.ndjson", "message_id": None,
                               "type": None, "received_at": None}


@pytest.fixture
def with_history(lake: Path) -> Path:
    """The golden lake with two earlier Mondays like 2024-03-11: the golden fortnight ramps up (visitors
    arrive over its first week), so none of its days has two comparable earlier weeks."""
    move_arrival_day(lake, DAY, "2024-03-04")
    move_arrival_day(lake, DAY, "2024-02-26")
    return lake


def test_a_day_like_its_earlier_weeks_passes_the_volume_rules(crafted: Settings, with_history: Path):
    result = validate("bronze/events", DAY, crafted)
    assert result.success
    assert result["volume_band"].observed == 1755
    assert result["volume_band"].expected == {"min_value": 1228, "max_value": 2633}
    assert result.facts["volume_baseline"] == 1755


def test_a_day_with_half_the_volume_warns(crafted: Settings, with_history: Path):
    for path in bronze_files(with_history, DAY):
        rewrite_parquet(path, "SELECT * FROM file WHERE hash(message_id) % 2 = 0")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"volume_band"}
    assert result.severity == "warning"
    kept = count(with_history, f"SELECT count(*) FROM {BRONZE_OF_DAY}")
    assert result["volume_band"].observed == kept and 700 < kept < 1050


def test_a_day_with_a_tenth_of_the_volume_warns(crafted: Settings, with_history: Path):
    for path in bronze_files(with_history, DAY):
        rewrite_parquet(path, "SELECT * FROM file WHERE hash(message_id) % 10 = 0")
    result = validate("bronze/events", DAY, crafted)
    assert failed(result) == {"volume_band"}
    assert result.severity == "warning"


def test_a_drop_that_lasted_three_days_is_the_new_level(crafted: Settings, with_history: Path):
    """The three arrival days before 2024-03-11, like it and each with two earlier weeks like it, kept a tenth
    of their rows, as the day itself did: the band is around their level, not the weeks', and the day passes."""
    for day in ("2024-03-08", "2024-03-09", "2024-03-10"):
        for earlier in (date.fromisoformat(day) - timedelta(weeks=weeks) for weeks in (0, 1, 2)):
            move_arrival_day(with_history, DAY, earlier.isoformat())
    for day in ("2024-03-08", "2024-03-09", "2024-03-10", DAY):
        for path in bronze_files(with_history, day):
            rewrite_parquet(path, "SELECT * FROM file WHERE hash(message_id) % 10 = 0")
    result = validate("bronze/events", DAY, crafted)
    recent = {day: count(with_history, "SELECT count(*) FROM read_parquet("
                                       f"'{{lake}}/bronze/events/event_date=*/received_date={day}/*.parquet')")
              for day in ("2024-03-08", "2024-03-09", "2024-03-10")}
    assert result.success, [e.summary for e in result.expectations if not e.success]
    assert result.facts["volume_new_level"] and result.facts["volume_recent"] == recent
    assert result.facts["volume_baseline"] == sorted(recent.values())[1]


def test_a_day_not_over_yet_is_compared_with_its_earlier_weeks_up_to_the_same_time(crafted: Settings,
                                                                                    with_history: Path):
    from datetime import UTC, datetime

    from data_quality.lake import connection
    from data_quality.suites import volume

    noon = datetime(2024, 3, 11, 12, tzinfo=UTC)
    with connection(crafted) as con:
        parameters, skipped, facts = volume.bounds(con, crafted, date(2024, 3, 11), datetime(2024, 3, 11, 11, 30),
                                                   now=noon)
    # arrival days 2024-03-04 and 2024-02-26 hold 2024-03-11's rows moved back by one and two weeks
    before = count(with_history, f"SELECT count(*) FROM {BRONZE_OF_DAY} WHERE received_at < '2024-03-11 11:30'")
    assert 500 < before < 1200
    assert facts["volume_history"] == {"2024-03-04": before, "2024-02-26": before, "2024-02-19": None}
    assert facts["volume_counted_up_to"] == "11:30:00"
    assert skipped == {} and parameters == {"volume_low": int(0.7 * before), "volume_high": -(-3 * before // 2)}
