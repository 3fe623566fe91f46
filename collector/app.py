"""The collector's ASGI application: the Segment HTTP Tracking API in front of the landing zone.

A plain ASGI callable rather than a framework: the hot path (read body, parse, check, append, fsync,
answer) is a few hundred microseconds and every layer shows in the benchmark.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

from analytics_settings import Settings
from collector import protocol
from collector.committer import GroupCommitter
from collector.landing import LandingZone, partition_key, recover
from collector.observability import CollectorMetrics
from collector.openapi import openapi_document
from collector.protocol import RequestError
from collector.rate_limit import TokenBuckets

log = logging.getLogger("collector")
TRACKER_JS = Path(__file__).parent / "static" / "t.js"
MAX_ERRORS_REPORTED = 20
SEAL_CHECK_SECONDS = 1.0

CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"POST, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, Content-Encoding"),
    (b"access-control-max-age", b"86400"),
    (b"access-control-expose-headers", b"Retry-After"),  # so t.js can honour it on 429 and 503
]


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: bytes = b"application/json"
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()

    @classmethod
    def json(cls, status: int, payload: dict, *extra: tuple[bytes, bytes]) -> Response:
        return cls(status, orjson.dumps(payload), b"application/json", extra)


def _iso_millis(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


class CollectorApp:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.metrics = CollectorMetrics()
        self.limits = TokenBuckets(settings.rate_limit_events_per_second,
                                   settings.rate_limit_events_per_second * settings.rate_limit_burst_seconds)
        lake = settings.lake_path
        self.landing_root = lake / "landing"
        self.quarantine_root = lake / "quarantine" / "collector"
        zone = {"max_file_bytes": settings.landing_max_file_bytes,
                "max_file_age_seconds": settings.landing_max_file_age_seconds}
        self.landing = GroupCommitter(LandingZone(self.landing_root, **zone), self.metrics.observe_fsync)
        self.quarantine = GroupCommitter(LandingZone(self.quarantine_root, **zone), self.metrics.observe_fsync)
        self._sealer: asyncio.Task[None] | None = None
        self._tracker_js = TRACKER_JS.read_bytes() if TRACKER_JS.exists() else b""
        self._openapi = orjson.dumps(openapi_document())

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def startup(self) -> None:
        for root in (self.landing_root, self.quarantine_root):
            root.mkdir(parents=True, exist_ok=True)
            report = recover(root)
            if report.sealed:
                log.warning("sealed files left open by a crash", extra={"fields": {
                    "zone": str(root), "files": report.sealed, "torn_bytes_removed": report.torn_bytes_removed}})
        self._sealer = asyncio.get_running_loop().create_task(self._seal_periodically())
        log.info("collector ready", extra={"fields": {
            "lake": str(self.settings.lake_path), "sources": [k.source_id for k in self.settings.write_keys]}})

    async def shutdown(self) -> None:
        if self._sealer is not None:
            self._sealer.cancel()
        for committer in (self.landing, self.quarantine):
            await committer.close()
        log.info("collector stopped; open files sealed")

    async def _seal_periodically(self) -> None:
        while True:
            await asyncio.sleep(SEAL_CHECK_SECONDS)
            for committer in (self.landing, self.quarantine):
                try:
                    sealed = await committer.run_on_writer(committer.zone.seal_expired)
                    self.metrics.sealed_files += len(sealed)
                except OSError:
                    log.exception("could not seal an expired landing file")

    # -- ASGI --------------------------------------------------------------------------------------------

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        response = await self._route(scope, receive)
        headers = [(b"content-type", response.content_type),
                   (b"content-length", str(len(response.body)).encode()), *CORS_HEADERS,
                   *response.extra_headers]
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})

    async def _lifespan(self, receive, send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as error:  # noqa: BLE001 - reported to the server, which exits
                    await send({"type": "lifespan.startup.failed", "message": str(error)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _route(self, scope, receive) -> Response:
        path, method = scope["path"], scope["method"]
        if path in protocol.ENDPOINT_TYPES or path in protocol.BATCH_ENDPOINTS:
            if method == "OPTIONS":
                return Response(204, content_type=b"text/plain")
            if method != "POST":
                return Response.json(405, {"success": False, "message": f"use POST on {path}"},
                                     (b"allow", b"POST, OPTIONS"))
            response = await self._ingest(scope, receive, path)
            self.metrics.responses[response.status] += 1
            return response
        if method not in ("GET", "HEAD"):
            return Response.json(405, {"success": False, "message": f"use GET on {path}"}, (b"allow", b"GET"))
        if path == "/healthz":
            return Response.json(200, {"status": "ok"})
        if path == "/metrics":
            return Response(200, self.metrics.render(), b"text/plain; version=0.0.4")
        if path == "/openapi.json":
            return Response(200, self._openapi)
        if path == "/t.js" and self._tracker_js:
            return Response(200, self._tracker_js, b"application/javascript",
                            ((b"cache-control", b"public, max-age=300"),))
        return Response.json(404, {"success": False, "message": f"no such path {path}"})

    # -- ingestion ---------------------------------------------------------------------------------------

    async def _ingest(self, scope, receive, path: str) -> Response:
        try:
            return await self._ingest_or_raise(scope, receive, path)
        except RequestError as error:
            self.metrics.rejected[error.reason] += 1
            extra = ((b"retry-after", str(error.retry_after).encode()),) if error.retry_after else ()
            return Response.json(error.status, {"success": False, "code": error.reason,
                                                "message": error.message}, *extra)

    async def _ingest_or_raise(self, scope, receive, path: str) -> Response:
        settings = self.settings
        headers = dict(scope["headers"])
        media_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower().decode("latin-1")
        if media_type not in protocol.ACCEPTED_MEDIA_TYPES:
            raise RequestError(415, "unsupported_media_type",
                               f"Content-Type {media_type or 'missing'!r} is not accepted; "
                               "send application/json (or text/plain from a beacon)")
        source_id = self._authenticate_header(headers.get(b"authorization"))
        raw = await self._read_body(receive, headers.get(b"content-length"))
        body = protocol.decompress(raw, headers.get(b"content-encoding", b"").decode("latin-1"),
                                   settings.max_request_bytes)
        self.metrics.received_bytes += len(body)
        received_ms = time.time_ns() // 1_000_000
        try:
            payload = protocol.parse_json_object(body)
        except RequestError as error:
            if source_id is not None:  # an authenticated sender's unreadable body is kept, not lost
                await self._quarantine(source_id, received_ms, [(error.reason, error.message,
                                                                 body.decode("utf-8", "replace"))])
            raise
        body_key = payload.pop(protocol.WRITE_KEY_FIELD, None)  # read once, never stored
        if source_id is None:
            source_id = self._authenticate_body(body_key)

        implied_type = protocol.ENDPOINT_TYPES.get(path)
        if implied_type is None:
            events = payload.get("batch")
            if not isinstance(events, list):
                await self._quarantine(source_id, received_ms, [("missing_batch", "no batch array", payload)])
                raise RequestError(400, "missing_batch", "the body needs `batch`, a JSON array of events")
        else:
            events = [payload]

        wait = self.limits.take(source_id, len(events))
        if wait:
            raise RequestError(429, "rate_limited", f"source {source_id!r} is above its rate of "
                               f"{settings.rate_limit_events_per_second:g} events/s; retry later", int(wait))

        received_at = _iso_millis(received_ms)
        batch_sent_at = payload.get("sentAt") if implied_type is None else None
        lines: list[bytes] = []
        rejections: list[protocol.Rejection] = []
        rejected_events: list[tuple[str, str, object]] = []
        for index, event in enumerate(events):
            problem = protocol.check_event(event, implied_type)
            line = b""
            if problem is None:
                line = protocol.stored_json(protocol.stamp_event(event, implied_type, received_at, source_id,
                                                                 batch_sent_at))
                if len(line) > settings.max_event_bytes:
                    problem = ("event_too_large",
                               f"the event is {len(line)} bytes, above the {settings.max_event_bytes}-byte limit")
            if problem is None:
                lines.append(line)
            else:
                rejections.append(protocol.Rejection(index, *problem))
                rejected_events.append((*problem, event))

        try:
            await asyncio.gather(
                self.landing.commit(partition_key(received_ms), b"\n".join(lines) + b"\n") if lines else _done(),
                self._quarantine(source_id, received_ms, rejected_events),
            )
        except OSError:
            log.exception("the landing store cannot write; answering 503")
            raise RequestError(503, "store_unavailable",
                               "the collector cannot write to its landing store; retry later", 5) from None

        self.metrics.accepted[source_id] += len(lines)
        for rejection in rejections:
            self.metrics.rejected[rejection.reason] += 1
        if implied_type is not None and rejections:
            status = 413 if rejections[0].reason == "event_too_large" else 400
            return Response.json(status, {"success": False, "accepted": 0, "rejected": 1,
                                          "code": rejections[0].reason, "message": rejections[0].message})
        return Response.json(200 if lines or not events else 400, {
            "success": bool(lines) or not events, "accepted": len(lines), "rejected": len(rejections),
            "errors": [{"index": r.index, "code": r.reason, "message": r.message}
                       for r in rejections[:MAX_ERRORS_REPORTED]]})

    async def _quarantine(self, source_id: str, received_ms: int,
                          rejected: list[tuple[str, str, object]]) -> None:
        if not rejected:
            return
        received_at = _iso_millis(received_ms)
        lines = b"".join(protocol.quarantine_line(reason, message, received_at, source_id, event)
                         for reason, message, event in rejected)
        await self.quarantine.commit(partition_key(received_ms), lines)

    def _authenticate_header(self, authorization: bytes | None) -> str | None:
        """The source of an HTTP Basic write key (user part, empty password); None if no header."""
        if authorization is None:
            return None
        scheme, _, credentials = authorization.partition(b" ")
        if scheme.lower() != b"basic":
            raise RequestError(401, "bad_auth", "use HTTP Basic auth with the write key as user and no password")
        try:
            key = base64.b64decode(credentials.strip(), validate=True).decode("utf-8").partition(":")[0]
        except (binascii.Error, UnicodeDecodeError):
            raise RequestError(401, "bad_auth", "the Authorization header is not valid Basic credentials") from None
        return self._source_or_401(key)

    def _authenticate_body(self, write_key: object) -> str:
        if not isinstance(write_key, str) or not write_key:
            raise RequestError(401, "missing_write_key", "no write key: send it as the HTTP Basic user "
                                                         "(empty password) or as `writeKey` in the body")
        return self._source_or_401(write_key)

    def _source_or_401(self, key: str) -> str:
        source_id = self.settings.source_for_key(key)
        if source_id is None:
            raise RequestError(401, "unknown_write_key",
                               "the write key is not configured; check ANALYTICS_WRITE_KEYS on the collector")
        return source_id

    async def _read_body(self, receive, content_length: bytes | None) -> bytes:
        limit = self.settings.max_request_bytes
        if content_length is not None and content_length.isdigit() and int(content_length) > limit:
            raise RequestError(413, "request_too_large",
                               f"the body is {int(content_length)} bytes, above the {limit}-byte limit; "
                               "send smaller batches")
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.settings.request_timeout_seconds):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        raise RequestError(400, "client_disconnected", "the client went away")
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise RequestError(413, "request_too_large",
                                           f"the body exceeds the {limit}-byte limit; send smaller batches")
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        return b"".join(chunks)
        except TimeoutError:
            raise RequestError(408, "request_timeout",
                               f"the body took longer than {self.settings.request_timeout_seconds:g} s "
                               "to arrive") from None


async def _done() -> None:
    return None


def create_app(settings: Settings) -> CollectorApp:
    return CollectorApp(settings)
