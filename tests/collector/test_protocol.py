"""Property tests of the request parser: any body gets an answer, never an unexpected exception."""

from __future__ import annotations

import gzip
import json

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from collector import protocol
from collector.protocol import RequestError

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(st.binary(max_size=2000))
def test_any_bytes_parse_or_fail_with_a_named_reason(body):
    try:
        value = protocol.parse_json_object(body)
    except RequestError as error:
        assert error.status == 400
        assert error.reason in {"malformed_json", "invalid_utf8", "non_finite_number", "not_an_object"}
        assert error.message
    else:
        assert isinstance(value, dict)


@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6))
def test_json_objects_round_trip(obj):
    assert protocol.parse_json_object(json.dumps(obj).encode()) == obj


@given(json_values)
def test_check_event_answers_every_value(value):
    outcome = protocol.check_event(value)
    assert outcome is None or (isinstance(outcome, tuple) and len(outcome) == 2)


@given(st.sampled_from(sorted(protocol.EVENT_TYPES)), st.text(min_size=1, max_size=10).filter(str.strip),
       st.dictionaries(st.text(max_size=8), json_values, max_size=4))
def test_valid_events_are_stamped_and_keep_every_field(event_type, user_id, extra):
    event = {**{k: v for k, v in extra.items() if k not in {"type", "messageId", "writeKey"}},
             "type": event_type, "userId": user_id, "event": "E", "groupId": "g", "previousId": "p"}
    assert protocol.check_event(event) is None
    original = dict(event)
    stored = protocol.stamp_event(event, None, "2026-11-29T00:00:00.000Z", "web")
    for key, value in original.items():
        assert stored[key] == value
    assert stored["messageId"] and stored["receivedAt"] == "2026-11-29T00:00:00.000Z" and stored["sourceId"] == "web"
    assert orjson.loads(orjson.dumps(stored)) == stored


@settings(max_examples=50)
@given(st.binary(max_size=5000), st.integers(min_value=1, max_value=4000))
def test_decompression_never_exceeds_the_cap(data, cap):
    try:
        decoded = protocol.decompress(gzip.compress(data), "gzip", cap)
    except RequestError as error:
        assert error.status == 413 and len(data) > cap
    else:
        assert decoded == data and len(decoded) <= cap


def test_reasons_for_bad_events():
    assert protocol.check_event([]) == ("not_an_object", "an event must be a JSON object")
    assert protocol.check_event({"type": "launch", "userId": "u"})[0] == "unknown_type"
    assert protocol.check_event({"type": "track", "event": "x"})[0] == "missing_identity"
    assert protocol.check_event({"type": "track", "userId": True, "event": "x"})[0] == "missing_identity"
    assert protocol.check_event({"type": "track", "userId": "u", "event": " "})[0] == "missing_event"
    assert protocol.check_event({"type": "group", "userId": "u"})[0] == "missing_group_id"
    assert protocol.check_event({"type": "alias", "userId": "u"})[0] == "missing_previous_id"
    assert protocol.check_event({"type": "page", "userId": "u", "messageId": 5})[0] == "invalid_message_id"
    assert protocol.check_event({"type": "track", "anonymousId": 42, "event": "x"}) is None


def test_unhashable_type_is_an_unknown_type():  # found by the schemathesis run
    assert protocol.check_event({"type": {}, "userId": "u"})[0] == "unknown_type"
