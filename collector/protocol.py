"""The Segment HTTP Tracking API, as pure functions: decode a request body, check and stamp events.

Nothing here does I/O, so the parser can be property-tested on its own.
"""

from __future__ import annotations

import re
import uuid
import zlib
from dataclasses import dataclass

import orjson

EVENT_TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
# Single-event endpoints and the type they imply; /v1/batch and /v1/import carry typed events.
ENDPOINT_TYPES = {
    "/v1/track": "track",
    "/v1/identify": "identify",
    "/v1/page": "page",
    "/v1/screen": "screen",
    "/v1/group": "group",
    "/v1/alias": "alias",
}
BATCH_ENDPOINTS = frozenset({"/v1/batch", "/v1/import"})
ACCEPTED_MEDIA_TYPES = frozenset({"application/json", "text/plain"})  # text/plain: navigator.sendBeacon


class RequestError(Exception):
    """A request that is refused as a whole; ``status`` is the HTTP answer, ``reason`` the metric label."""

    def __init__(self, status: int, reason: str, message: str, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


def decompress(body: bytes, encoding: str, max_bytes: int) -> bytes:
    """Undo ``Content-Encoding``; the decoded size is capped so a gzip bomb costs at most ``max_bytes``."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in ("gzip", "deflate"):
        raise RequestError(415, "unsupported_encoding",
                           f"Content-Encoding {encoding!r} is not supported; send gzip, deflate or none")
    inflater = zlib.decompressobj(wbits=47 if encoding == "gzip" else 15)  # 47: gzip or zlib header
    try:
        decoded = inflater.decompress(body, max_bytes + 1)
    except zlib.error as error:
        raise RequestError(400, "bad_encoding", f"the body is not valid {encoding} data ({error})") from None
    if len(decoded) > max_bytes:
        raise RequestError(413, "request_too_large",
                           f"the decompressed body exceeds {max_bytes} bytes; send smaller batches")
    return decoded


_NON_FINITE = re.compile(rb"(?<![\"\w])-?(NaN|Infinity)(?![\"\w])")


def parse_json_object(body: bytes) -> dict:
    """Parse a request body that must be one JSON object, with an error that names the problem."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as bad:
            raise RequestError(400, "invalid_utf8",
                               f"the body is not valid UTF-8 (byte {bad.start}); encode JSON as UTF-8") from None
        if _NON_FINITE.search(body):
            raise RequestError(400, "non_finite_number",
                               "NaN and Infinity are not valid JSON numbers; send null or a string") from None
        raise RequestError(400, "malformed_json", f"the body is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise RequestError(400, "not_an_object", "the body must be a JSON object")
    return value


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str
    message: str


def _present(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip() != ""


def check_event(event: object, implied_type: str | None = None) -> tuple[str, str] | None:
    """Why an event cannot be accepted, as ``(reason, message)``, or None when it is fine."""
    if not isinstance(event, dict):
        return "not_an_object", "an event must be a JSON object"
    event_type = implied_type or event.get("type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        return "unknown_type", f"type {event_type!r} is not one of {', '.join(sorted(EVENT_TYPES))}"
    if not (_present(event.get("userId")) or _present(event.get("anonymousId"))):
        return "missing_identity", "an event needs a userId or an anonymousId"
    if event_type == "track" and not (isinstance(event.get("event"), str) and event["event"].strip()):
        return "missing_event", "a track call needs an event name in `event`"
    if event_type == "group" and not _present(event.get("groupId")):
        return "missing_group_id", "a group call needs a groupId"
    if event_type == "alias" and not _present(event.get("previousId")):
        return "missing_previous_id", "an alias call needs a previousId"
    message_id = event.get("messageId")
    if message_id is not None and not (isinstance(message_id, str) and message_id.strip()):
        return "invalid_message_id", "messageId must be a non-empty string (or left out to be assigned)"
    return None


def stamp_event(event: dict, implied_type: str | None, received_at: str, source_id: str,
                batch_sent_at: object = None) -> dict:
    """The stored form of an accepted event: as sent, plus receivedAt, the source and a messageId.

    A batch's ``sentAt`` is copied into events that carry none, because the lake's clock-skew correction
    needs it per event. A ``writeKey`` inside the event is removed when it is stored (:func:`stored_json`).
    """
    if implied_type is not None:
        event["type"] = implied_type
    if not event.get("messageId"):
        event["messageId"] = f"srv-{uuid.uuid4()}"
    if batch_sent_at is not None and "sentAt" not in event:
        event["sentAt"] = batch_sent_at
    event["receivedAt"] = received_at
    event["sourceId"] = source_id
    return event


def quarantine_line(reason: str, message: str, received_at: str, source_id: str, event: object) -> bytes:
    """One line of ``quarantine/collector/``: why the event was refused, when, from which source, and the
    event (or the unparseable body) as sent, without write keys."""
    record = {"reason": reason, "message": message, "receivedAt": received_at, "sourceId": source_id,
              "event": event}
    return stored_json(record) + b"\n"


WRITE_KEY_FIELD = "writeKey"
# A `"writeKey": "…"` pair in a body that is not valid JSON (kept in quarantine as text): its value, even
# one cut off by the end of a truncated body.
_WRITE_KEY_IN_TEXT = re.compile(r'("writeKey"\s*:\s*)"(?:[^"\\]|\\.)*"?')
REDACTED = "[redacted]"


def without_write_keys(value: object) -> object:
    """``value`` without write keys at any depth: ``writeKey`` fields are dropped, and in text (an
    unparseable body) the value of a ``"writeKey": "…"`` pair is replaced by ``[redacted]``."""
    if isinstance(value, dict):
        return {key: without_write_keys(item) for key, item in value.items() if key != WRITE_KEY_FIELD}
    if isinstance(value, list):
        return [without_write_keys(item) for item in value]
    if isinstance(value, str) and WRITE_KEY_FIELD in value:
        return _WRITE_KEY_IN_TEXT.sub(rf'\1"{REDACTED}"', value)
    return value


def stored_json(record: object) -> bytes:
    """The JSON of a record about to be written to the lake, without write keys (secrets are never stored).

    A client may put its key anywhere: in each event, or in a whole batch sent as one event by an SDK pointed
    at the wrong path. A byte search finds them, so only the rare record that carries one pays for the walk.
    """
    data = orjson.dumps(record, option=orjson.OPT_NON_STR_KEYS)
    if WRITE_KEY_FIELD.encode() in data:
        data = orjson.dumps(without_write_keys(record), option=orjson.OPT_NON_STR_KEYS)
    return data
