"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams (cheap enough to share 2 cores with
the server under test): closed-loop for the maximum rate, open-loop at a fixed rate for latency."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass


@dataclass
class LoadResult:
    requests: int
    events: int
    failures: int
    seconds: float
    latencies: list[float]

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds

    def latency_ms(self, quantile: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return 1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]

    @property
    def median_ms(self) -> float:
        return 1000 * statistics.median(self.latencies)


def build_request(host: str, port: int, path: str, body: bytes, auth_header: str) -> bytes:
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Authorization: {auth_header}\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> int:
    writer.write(request)
    await writer.drain()
    status_line = await reader.readuntil(b"\r\n")
    headers = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in headers.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return int(status_line.split(b" ", 2)[1])


async def closed_loop(host: str, port: int, requests: list[bytes], events_per_request: int,
                      connections: int, seconds: float) -> LoadResult:
    """Each connection sends its next request as soon as the previous one is answered."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0}

    async def connection(offset: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        index = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await _exchange(reader, writer, requests[index % len(requests)])
            latencies.append(time.perf_counter() - started)
            counts["ok" if status == 200 else "failed"] += 1
            index += connections
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection(i) for i in range(connections)))
    elapsed = time.perf_counter() - started
    return LoadResult(counts["ok"], counts["ok"] * events_per_request, counts["failed"], elapsed, latencies)


async def open_loop(host: str, port: int, requests: list[bytes], events_per_request: int,
                    requests_per_second: float, seconds: float, connections: int = 64) -> LoadResult:
    """Requests leave on a fixed schedule; latency counts from the scheduled time, so queueing shows."""
    total = int(requests_per_second * seconds)
    interval = 1 / requests_per_second
    queue: asyncio.Queue[int] = asyncio.Queue()
    latencies: list[float] = []
    counts = {"ok": 0, "failed": 0}
    start = time.perf_counter() + 0.2

    async def connection() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        while True:
            index = await queue.get()
            if index < 0:
                break
            scheduled = start + index * interval
            status = await _exchange(reader, writer, requests[index % len(requests)])
            latencies.append(time.perf_counter() - scheduled)
            counts["ok" if status == 200 else "failed"] += 1
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    for index in range(total):
        delay = start + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait(index)
    for _ in workers:
        queue.put_nowait(-1)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    return LoadResult(counts["ok"], counts["ok"] * events_per_request, counts["failed"], elapsed, latencies)
