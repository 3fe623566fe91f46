"""Write keys are never stored: a canary key sent through every accepted and rejected path of a real collector
appears nowhere in its data folder or its log."""

from __future__ import annotations

import base64
import gzip
import json

import httpx

CANARY = "wk_canary_3f9d2c71b8e4"
UNKNOWN_CANARY = "wk_unknown_canary_5a0e"
BODY_ONLY = {"Content-Type": "text/plain;charset=UTF-8"}  # a browser beacon: the key is in the body
BASIC = {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(f"{CANARY}:".encode()).decode()}


def track(case: str, **fields) -> dict:
    return {"type": "track", "event": "Clicked", "userId": "u1", "properties": {"case": case}, **fields}


def post(server, path: str, body: object, headers: dict) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(server.url + path, content=content, headers=headers, timeout=30)


def test_a_canary_write_key_is_stored_nowhere(collector_server):
    server = collector_server(write_keys=f"web={CANARY}")
    key = {"writeKey": CANARY}
    batch_body = {**key, "batch": [{**track("batch_ok"), **key}, {**key, "type": "track", "event": "No identity"}]}
    # (path, body, headers, status, events landed, events quarantined)
    calls = [
        # analytics.js-style single call with the key in the body: accepted, and refused for want of identity
        ("/v1/track", {**track("single_ok"), **key}, BODY_ONLY, 200, 1, 0),
        ("/v1/track", {**key, "event": "Anonymous"}, BODY_ONLY, 400, 0, 1),
        # a batch whose events carry the key too: one accepted, one quarantined
        ("/v1/batch", batch_body, BODY_ONLY, 200, 1, 1),
        # SDKs pointed at the wrong path: a whole batch as one event (refused, and accepted when it names a
        # user), and a single call where a batch belongs
        ("/v1/track", batch_body, BODY_ONLY, 400, 0, 1),
        ("/v1/track", {**batch_body, "userId": "u2", "event": "Batch as event"}, BASIC, 200, 1, 0),
        ("/v1/batch", {**track("no_batch"), **key}, BODY_ONLY, 400, 0, 1),
        # unreadable bodies of an authenticated sender are quarantined as text, even cut off inside the key
        ("/v1/batch", b'{"writeKey": "' + CANARY.encode() + b'", "batch": [', BASIC, 400, 0, 1),
        ("/v1/batch", b'{"batch": [], "writeKey": "' + CANARY[:12].encode(), BASIC, 400, 0, 1),
        ("/v1/track", b'{"writeKey": "' + CANARY.encode() + b'", "v": NaN}', BASIC, 400, 0, 1),
        # gzip, an oversized event, and keys the collector does not know
        ("/v1/batch", gzip.compress(json.dumps({**key, "batch": [{**track("gz", properties={"pad": "x" * 40_000}),
                                                                 **key}]}).encode()),
         {**BODY_ONLY, "Content-Encoding": "gzip"}, 400, 0, 1),
        ("/v1/track", {**track("unknown"), "writeKey": UNKNOWN_CANARY}, BODY_ONLY, 401, 0, 0),
        ("/v1/batch", {"batch": [{**track("other_key"), "writeKey": UNKNOWN_CANARY}]}, BASIC, 200, 1, 0),
    ]
    for path, body, headers, status, _, _ in calls:
        response = post(server, path, body, headers)
        assert response.status_code == status, (path, body if len(str(body)) < 300 else "…", response.text)
        assert CANARY not in response.text
    server.stop()

    assert len(server.landed_events()) == sum(call[4] for call in calls)
    assert len(server.landed_events("quarantine")) == sum(call[5] for call in calls)
    hits = [str(path) for path in server.data_dir.rglob("*") if path.is_file()
            if any(canary.encode() in path.read_bytes() for canary in (CANARY, CANARY[:12], UNKNOWN_CANARY))]
    assert hits == []
    assert CANARY[:12] not in server.log() and UNKNOWN_CANARY not in server.log()
    assert "writeKey" not in json.dumps(server.landed_events() + server.landed_events("quarantine")).replace(
        '\\"writeKey\\": \\"[redacted]\\"', "")
