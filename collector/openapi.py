"""The OpenAPI document of the collector, served at ``/openapi.json`` (and fuzzed by schemathesis)."""

from __future__ import annotations

from collector.protocol import ENDPOINT_TYPES, EVENT_TYPES

_IDENTITY = {"userId": {"type": "string"}, "anonymousId": {"type": "string"}}
_COMMON = {
    "messageId": {"type": "string", "description": "Assigned by the collector when missing."},
    "timestamp": {"type": "string", "format": "date-time"},
    "originalTimestamp": {"type": "string", "format": "date-time"},
    "sentAt": {"type": "string", "format": "date-time"},
    "context": {"type": "object"},
    "integrations": {"type": "object"},
    "properties": {"type": "object"},
    "traits": {"type": "object"},
    "writeKey": {"type": "string", "description": "The write key, when not sent as HTTP Basic user."},
}
_RESULT = {
    "type": "object",
    "properties": {
        "success": {"type": "boolean"},
        "accepted": {"type": "integer"},
        "rejected": {"type": "integer"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "code": {"type": "string", "description": "Why the request or event was refused."},
        "message": {"type": "string"},
    },
}


def _event_schema(event_type: str | None) -> dict:
    properties = {**_IDENTITY, **_COMMON}
    required: list[str] = []
    if event_type is None:
        properties["type"] = {"type": "string", "enum": sorted(EVENT_TYPES)}
        required.append("type")
    if event_type in (None, "track"):
        properties["event"] = {"type": "string"}
    if event_type == "track":
        required.append("event")
    if event_type in (None, "page", "screen"):
        properties["name"] = {"type": "string"}
    if event_type in (None, "group"):
        properties["groupId"] = {"type": "string"}
    if event_type in (None, "alias"):
        properties["previousId"] = {"type": "string"}
    return {"type": "object", "properties": properties, "required": required,
            "anyOf": [{"required": ["userId"]}, {"required": ["anonymousId"]}]}


def _operation(summary: str, schema: dict) -> dict:
    answers = {
        "200": "Accepted: the events are on disk.",
        "400": "Malformed body, or every event rejected (each kept in quarantine with its reason).",
        "401": "Missing or unknown write key.",
        "408": "The body did not arrive in time.",
        "413": "Event or request above the size limit.",
        "415": "Unsupported Content-Type or Content-Encoding.",
        "429": "Above the source's rate; see Retry-After.",
        "503": "The landing store cannot write; nothing was acknowledged.",
    }
    return {
        "summary": summary,
        "security": [{"writeKey": []}, {}],
        "requestBody": {"required": True, "content": {"application/json": {"schema": schema},
                                                      "text/plain": {"schema": {"type": "string"}}}},
        "responses": {code: {"description": text, "content": {"application/json": {"schema": _RESULT}}}
                      for code, text in answers.items()},
    }


def openapi_document() -> dict:
    paths = {path: {"post": _operation(f"Record one {event_type} call.", _event_schema(event_type))}
             for path, event_type in ENDPOINT_TYPES.items()}
    batch = {"type": "object", "required": ["batch"], "properties": {
        "batch": {"type": "array", "items": _event_schema(None)},
        "sentAt": {"type": "string", "format": "date-time"},
        "context": {"type": "object"},
        "writeKey": {"type": "string"},
    }}
    paths["/v1/batch"] = {"post": _operation(
        "Record a batch of calls (a body of at most ANALYTICS_MAX_REQUEST_BYTES, 4 MiB by default; an event "
        "above ANALYTICS_MAX_EVENT_BYTES is rejected alone).", batch)}
    paths["/v1/import"] = {"post": _operation("Record a batch of historical calls (as /v1/batch).", batch)}
    paths["/healthz"] = {"get": {"summary": "Liveness.", "responses": {"200": {"description": "Serving."}}}}
    paths["/metrics"] = {"get": {"summary": "Prometheus metrics.",
                                 "responses": {"200": {"description": "Prometheus text format."}}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "Analytics Stack collector", "version": "1",
                 "description": "The Segment HTTP Tracking API; events land durably in the lake."},
        "paths": paths,
        "components": {"securitySchemes": {"writeKey": {"type": "http", "scheme": "basic",
                                                        "description": "Write key as user, empty password."}}},
    }
