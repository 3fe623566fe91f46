"""Segment's and RudderStack's own Python SDKs, pointed at the collector, work unchanged."""

from __future__ import annotations

import datetime as dt

import pytest
import rudderstack.analytics.client as rudder
import segment.analytics.client as segment

KEY = "wk_backend"
WHEN = dt.datetime(2026, 11, 28, 9, 30, tzinfo=dt.UTC)


def send_every_call(client, prefix: str) -> None:
    client.identify("user-1", {"email": "ada@example.com", "plan": "pro"}, message_id=f"{prefix}-identify",
                    timestamp=WHEN)
    client.track("user-1", "Order Completed", {"revenue": 42.5, "currency": "EUR"},
                 message_id=f"{prefix}-track", timestamp=WHEN)
    client.page("user-1", "Docs", "Quick start", {"path": "/docs"}, message_id=f"{prefix}-page", timestamp=WHEN)
    client.screen("user-1", "Settings", "Profile", {"tab": "a"}, message_id=f"{prefix}-screen", timestamp=WHEN)
    client.group("user-1", "acme", {"seats": 10}, message_id=f"{prefix}-group", timestamp=WHEN)
    client.alias("anon-7", "user-1", message_id=f"{prefix}-alias", timestamp=WHEN)
    client.flush()
    client.shutdown()


@pytest.mark.parametrize("sdk", ["segment", "rudderstack"])
@pytest.mark.parametrize("gzip", [False, True])
def test_official_sdk_events_land(collector_server, sdk, gzip):
    server = collector_server(write_keys=f"backend={KEY}")
    errors: list = []
    module = segment if sdk == "segment" else rudder
    client = module.Client(KEY, host=server.url, gzip=gzip, max_retries=1, on_error=lambda e, b: errors.append(e))
    send_every_call(client, sdk)
    assert errors == []
    events = {e["messageId"]: e for e in server.landed_events()}
    assert set(events) == {f"{sdk}-{t}" for t in ("identify", "track", "page", "screen", "group", "alias")}
    assert {e["type"] for e in events.values()} == {"identify", "track", "page", "screen", "group", "alias"}
    tracked = events[f"{sdk}-track"]
    assert tracked["event"] == "Order Completed" and tracked["properties"] == {"revenue": 42.5, "currency": "EUR"}
    assert tracked["userId"] == "user-1" and tracked["sourceId"] == "backend"
    assert tracked["timestamp"].startswith("2026-11-28T09:30:00") and tracked["sentAt"]
    identified = events[f"{sdk}-identify"]
    # RudderStack sends identify traits in context.traits, Segment at the top level; both are kept as sent
    traits = identified.get("traits") or identified["context"]["traits"]
    assert traits == {"email": "ada@example.com", "plan": "pro"}
    assert events[f"{sdk}-group"]["groupId"] == "acme"
    assert events[f"{sdk}-alias"]["previousId"] == "anon-7"
    assert events[f"{sdk}-page"]["name"] == "Quick start"
    assert "writeKey" not in tracked and KEY not in str(tracked)


def test_sdk_with_unknown_key_is_refused(collector_server):
    server = collector_server(write_keys=f"backend={KEY}")
    errors: list = []
    client = segment.Client("wrong-key", host=server.url, max_retries=0, on_error=lambda e, b: errors.append(e))
    client.track("user-1", "Signed Up")
    client.flush()
    client.shutdown()
    assert len(errors) == 1 and getattr(errors[0], "status", None) == 401
    assert server.landed_events() == []
