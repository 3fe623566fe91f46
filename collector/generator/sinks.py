"""Where generated events go: straight into the lake, to the collector over HTTP, or through Segment's SDK.

* ``landing`` writes the stored form the collector would have written (receivedAt = the simulated true
  arrival, the first configured source or ``generator``) into ``<lake>/landing/``, and the malformed
  payloads with the collector's reason into ``<lake>/quarantine/collector/``. Lines are grouped by arrival
  hour and appended in large chunks; an hour is sealed once no later simulated day can arrive in it.
* ``http`` posts raw Segment batches to ``/v1/batch`` with the source's write key, concurrently, and
  counts what the collector accepted and rejected (429 and 503 are retried with backoff).
* ``sdk`` sends through ``segment.analytics.Client``; malformed payloads, which the SDK refuses to build,
  go as raw batches.

In ``http`` and ``sdk`` modes the collector stamps the arrival time (now). Each event's ``sentAt`` is moved
to now while keeping its distance from the device's event time, so the lake's clock-skew correction still
recovers the simulated time (the SDK sets ``sentAt`` itself, so there only the timestamp survives).
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol

import httpx
import numpy as np
import orjson
from segment import analytics

from collector.generator.model import Chunk, iso_ms
from collector.landing import LandingZone, partition_key
from collector.protocol import check_event, quarantine_line, stamp_event

HOUR_MS = 3_600_000


@dataclass
class SinkReport:
    mode: str
    location: str
    sent: int = 0  # valid events and duplicates handed over
    malformed_sent: int = 0
    accepted: int | None = None  # as the collector answered (None when the sink cannot know)
    rejected: int | None = None
    failed_requests: int = 0


class Sink(Protocol):
    def send(self, chunk: Chunk) -> None: ...

    def close(self) -> SinkReport: ...


class LandingSink:
    """Writes stored-form lines into the landing zone and the collector's quarantine, by arrival hour."""

    def __init__(self, lake: Path, source_id: str, writer_id: str, max_buffer_bytes: int = 256 * 1024 * 1024,
                 max_file_bytes: int = 128 * 1024 * 1024):
        self.zones = {zone: LandingZone(lake / folder, max_file_bytes=max_file_bytes, writer_id=writer_id)
                      for zone, folder in (("landing", "landing"), ("quarantine", "quarantine/collector"))}
        self.source_id = source_id
        self.max_buffer_bytes = max_buffer_bytes
        # (zone, hour) -> blobs of lines, each blob in arrival order (files are arrival-ordered per chunk)
        self._buffers: dict[tuple[str, int], list[bytes]] = defaultdict(list)
        self._buffered = 0
        self._final_before_ms = -1
        # One writer thread: appends and fsyncs release the GIL, so disk time overlaps with generation.
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="generator-landing")
        self._in_flight: deque[tuple[Future, int]] = deque()
        self.report = SinkReport("landing", str(lake))

    def send(self, chunk: Chunk) -> None:
        if chunk.final_before_ms > self._final_before_ms:  # a new simulated day: earlier hours are complete
            self._final_before_ms = chunk.final_before_ms
            self._write(before_ms=chunk.final_before_ms, seal=True)
        received = iso_ms(chunk.arrival_ms)
        source, dumps, events = self.source_id, orjson.dumps, chunk.events
        # Lines in arrival order, then cut into one blob per arrival hour.
        order = np.argsort(chunk.arrival_ms, kind="stable")
        lines = []
        for i in order.tolist():
            if i < chunk.valid:
                lines.append(dumps(stamp_event(events[i], None, received[i], source)) + b"\n")
            else:
                reason, message = check_event(events[i]) or ("accepted", "")
                lines.append(quarantine_line(reason, message, received[i], source, events[i]))
        hours = chunk.arrival_ms[order] // HOUR_MS
        malformed = order >= chunk.valid
        for zone, in_zone in (("landing", ~malformed), ("quarantine", malformed)):
            positions = np.flatnonzero(in_zone)
            zone_hours = hours[positions]
            cuts = np.flatnonzero(np.diff(zone_hours)) + 1
            for segment in np.split(positions, cuts) if len(positions) else []:
                blob = b"".join([lines[p] for p in segment.tolist()])
                self._buffers[(zone, int(hours[segment[0]]))].append(blob)
                self._buffered += len(blob)
        self.report.sent += chunk.valid
        self.report.malformed_sent += len(chunk.events) - chunk.valid
        if self._buffered > self.max_buffer_bytes:
            self._write(before_ms=None, seal=False)

    def close(self) -> SinkReport:
        self._write(before_ms=None, seal=True)
        while self._in_flight:
            self._in_flight.popleft()[0].result()
        self._writer.shutdown(wait=True)
        return self.report

    def _write(self, before_ms: int | None, seal: bool) -> None:
        """Append the buffered hours that start before ``before_ms`` (all when None); seal if asked."""
        ready = sorted(key for key in self._buffers if before_ms is None or (key[1] + 1) * HOUR_MS <= before_ms)
        for zone, hour in ready:
            data = b"".join(self._buffers.pop((zone, hour)))
            self._buffered -= len(data)
            self._submit(self.zones[zone].append, partition_key(hour * HOUR_MS), data, size=len(data))
        if seal:
            for zone in self.zones.values():
                self._submit(zone.seal_all, size=0)

    def _submit(self, call, *args, size: int) -> None:
        """Queue a write on the writer thread; wait while more than the buffer limit is in flight."""
        self._in_flight.append((self._writer.submit(call, *args), size))
        while sum(n for _, n in self._in_flight) > self.max_buffer_bytes or self._in_flight[0][0].done():
            self._in_flight.popleft()[0].result()  # raises the writer's OSError here
            if not self._in_flight:
                break


def _retimed_batch(chunk: Chunk, indices: range, now_ms: int) -> list[dict]:
    """The events of ``indices`` with sentAt moved to now, keeping (sentAt - timestamp) as the device had it."""
    sent = iso_ms(now_ms + chunk.sent_ms[indices.start:indices.stop] - chunk.arrival_ms[indices.start:indices.stop])
    batch = []
    for i, sent_at in zip(indices, sent):
        event = chunk.events[i]
        event["sentAt"] = sent_at
        batch.append(event)
    return batch


class HttpSink:
    """Posts Segment batches to the collector from a few threads and tallies its answers."""

    def __init__(self, base_url: str, write_key: str, concurrency: int = 8, batch_size: int = 200,
                 timeout: float = 30.0, max_attempts: int = 6):
        self.url = base_url.rstrip("/") + "/v1/batch"
        self.client = httpx.Client(auth=(write_key, ""), timeout=timeout,
                                   limits=httpx.Limits(max_connections=concurrency))
        self.pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="generator-http")
        self.batch_size = batch_size
        self.max_attempts = max_attempts
        self._lock = threading.Lock()
        self.report = SinkReport("http", self.url, accepted=0, rejected=0)

    def send(self, chunk: Chunk) -> None:
        batches = [(chunk, range(first, min(first + self.batch_size, len(chunk.events))))
                   for first in range(0, len(chunk.events), self.batch_size)]
        list(self.pool.map(self._post, batches))  # one chunk in flight at a time bounds memory
        self.report.sent += chunk.valid
        self.report.malformed_sent += len(chunk.events) - chunk.valid

    def _post(self, batch: tuple[Chunk, range]) -> None:
        delay = 0.2
        for attempt in range(self.max_attempts):
            # sentAt stamped as the request leaves, as SDKs do: the lake's skew correction (receivedAt - sentAt)
            # then recovers event times to the network delay, not to the time the batch queued here
            now_ms = int(time.time() * 1000)
            body = orjson.dumps({"batch": _retimed_batch(*batch, now_ms), "sentAt": iso_ms(np.array([now_ms]))[0]})
            try:
                response = self.client.post(self.url, content=body, headers={"Content-Type": "application/json"})
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code not in (429, 503):
                break
            retry_after = response.headers.get("Retry-After") if response is not None else None
            time.sleep(float(retry_after) if retry_after and retry_after.isdigit() else delay)
            delay = min(delay * 2, 10.0)
        with self._lock:
            if response is None or response.status_code not in (200, 400):
                self.report.failed_requests += 1
                return
            answer = response.json()
            self.report.accepted += int(answer.get("accepted", 0))
            self.report.rejected += int(answer.get("rejected", 0))

    def close(self) -> SinkReport:
        self.pool.shutdown(wait=True)
        self.client.close()
        return self.report


class SdkSink:
    """Sends valid events through Segment's Python SDK and malformed ones as raw batches."""

    def __init__(self, base_url: str, write_key: str):
        self.errors = 0
        self.client = analytics.Client(write_key, host=base_url.rstrip("/"), sync_mode=False, upload_size=100,
                                       max_queue_size=100_000, on_error=self._on_error, gzip=True)
        self.raw = HttpSink(base_url, write_key, concurrency=2)
        self.report = SinkReport("sdk", base_url)

    def _on_error(self, error: Exception, batch: list) -> None:
        self.errors += 1

    def send(self, chunk: Chunk) -> None:
        for event in chunk.events[:chunk.valid]:
            self._send_one(event)
        self.raw.send(Chunk(chunk.events[chunk.valid:], chunk.arrival_ms[chunk.valid:],
                            chunk.sent_ms[chunk.valid:], 0, chunk.final_before_ms))
        self.report.sent += chunk.valid
        self.report.malformed_sent += len(chunk.events) - chunk.valid

    def _send_one(self, event: dict) -> None:
        common = {"context": dict(event["context"]), "message_id": event["messageId"],
                  "timestamp": datetime.fromisoformat(event["timestamp"]), "integrations": {}}
        ids = {"user_id": event.get("userId"), "anonymous_id": event.get("anonymousId")}
        kind = event["type"]
        if kind == "track":
            self.client.track(event=event["event"], properties=event["properties"], **ids, **common)
        elif kind == "page":
            self.client.page(name=event.get("name"), properties=event["properties"], **ids, **common)
        elif kind == "screen":
            self.client.screen(name=event.get("name"), properties=event["properties"], **ids, **common)
        elif kind == "identify":
            self.client.identify(traits=event["traits"], **ids, **common)
        elif kind == "group":
            self.client.group(group_id=event["groupId"], traits=event["traits"], **ids, **common)
        elif kind == "alias":
            self.client.alias(previous_id=event["previousId"], user_id=event["userId"], **common)

    def close(self) -> SinkReport:
        self.client.shutdown()  # flushes the queue, then stops the upload thread
        raw = self.raw.close()
        self.report.failed_requests = self.errors + raw.failed_requests
        self.report.rejected = raw.rejected
        return self.report
