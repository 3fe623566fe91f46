"""Collector benchmark: durable events/s, acknowledgement latency and peak memory, next to the transport floor.

    make bench                       # or: .venv/bin/python bench/collector.py [--seconds 5] [--repeats 3]

Both servers run the same stack (uvicorn + httptools + uvloop, one process); the floor only reads the body
and answers 200. The load generator (this process) sends batches of 100 realistic events (~1 KB each,
from the traffic generator) over keep-alive connections:
  1. closed loop, to find each server's maximum rate (median of the repeats);
  2. open loop at half the collector's maximum rate, for p50/p99 latency counted from the scheduled send.
Peak memory is the collector's peak resident set (VmHWM).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.loadgen import build_request, closed_loop, open_loop
from collector.generator.model import GeneratorConfig, TrafficModel

REPO = Path(__file__).resolve().parent.parent
WRITE_KEY = "bench-key"
EVENTS_PER_BATCH = 100
GOAL_EVENTS_PER_SECOND = 50_000
GOAL_FLOOR_RATIO = 0.5
GOAL_P99_MS = 50.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def realistic_events(count: int) -> list[dict]:
    """The first ``count`` acceptable events of a generated day (duplicates and malformed ones left out)."""
    events: list[dict] = []
    for chunk in TrafficModel(GeneratorConfig(start=date(2026, 11, 1), users=5000, seed=7)).chunks():
        events += chunk.events[:chunk.valid]
        if len(events) >= count:
            return events[:count]
    raise ValueError(f"a generated day has fewer than {count} events")


def batch_bodies(count: int) -> list[bytes]:
    events = realistic_events(count * EVENTS_PER_BATCH)
    return [orjson.dumps({"batch": events[i:i + EVENTS_PER_BATCH], "sentAt": "2026-11-29T00:00:00.000Z"})
            for i in range(0, len(events), EVENTS_PER_BATCH)]


def run(seconds: float, repeats: int, connections: int) -> dict:
    bodies = batch_bodies(200)
    event_bytes = statistics.mean(len(b) for b in bodies) / EVENTS_PER_BATCH
    auth = "Basic " + base64.b64encode(f"{WRITE_KEY}:".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="bench-collector-") as data_dir:
        collector_port, floor_port = free_port(), free_port()
        env = {**os.environ, "ANALYTICS_DATA_DIR": data_dir, "ANALYTICS_WRITE_KEYS": f"bench={WRITE_KEY}",
               "ANALYTICS_COLLECTOR_PORT": str(collector_port), "ANALYTICS_RATE_LIMIT_EVENTS_PER_SECOND": "1e9"}
        collector = subprocess.Popen([sys.executable, "-m", "collector", "--log-level", "WARNING"], cwd=REPO,
                                     env=env)
        floor = subprocess.Popen([sys.executable, str(REPO / "bench" / "floor_app.py"), str(floor_port)], cwd=REPO)
        try:
            wait_healthy(f"http://127.0.0.1:{collector_port}/healthz", collector)
            wait_healthy(f"http://127.0.0.1:{floor_port}/", floor)
            results: dict[str, list] = {"collector": [], "floor": []}
            for _ in range(repeats):  # interleaved, so both see the same machine noise
                for name, port in (("collector", collector_port), ("floor", floor_port)):
                    requests = [build_request("127.0.0.1", port, "/v1/batch", body, auth) for body in bodies]
                    results[name].append(asyncio.run(
                        closed_loop("127.0.0.1", port, requests, EVENTS_PER_BATCH, connections, seconds)))
            collector_rate = statistics.median(r.events_per_second for r in results["collector"])
            floor_rate = statistics.median(r.events_per_second for r in results["floor"])
            requests = [build_request("127.0.0.1", collector_port, "/v1/batch", b, auth) for b in bodies]
            half = asyncio.run(open_loop("127.0.0.1", collector_port, requests, EVENTS_PER_BATCH,
                                         collector_rate / 2 / EVENTS_PER_BATCH, seconds))
            peak_mb = peak_rss_mb(collector.pid)
            failures = sum(r.failures for r in results["collector"]) + half.failures
        finally:
            for process in (collector, floor):
                process.terminate()
            for process in (collector, floor):
                process.wait(timeout=60)
        landed = sum(f.read_bytes().count(b"\n") for f in Path(data_dir, "lake", "landing").rglob("*.ndjson"))
    acknowledged = sum(r.events for r in results["collector"]) + half.events
    return {
        "event_bytes": event_bytes, "collector_rate": collector_rate, "floor_rate": floor_rate,
        "collector_runs": [round(r.events_per_second) for r in results["collector"]],
        "floor_runs": [round(r.events_per_second) for r in results["floor"]],
        "closed_p99_ms": statistics.median(r.latency_ms(0.99) for r in results["collector"]),
        "half_rate": half.events_per_second, "half_p50_ms": half.latency_ms(0.5), "half_p99_ms": half.latency_ms(0.99),
        "peak_mb": peak_mb, "failures": failures, "acknowledged": acknowledged, "landed": landed,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    r = run(args.seconds, args.repeats, args.connections)
    ratio = r["collector_rate"] / r["floor_rate"]
    print(f"collector benchmark: batches of {EVENTS_PER_BATCH} events, {r['event_bytes']:.0f} B/event, "
          f"{args.connections} connections, {args.repeats} x {args.seconds:g} s, {os.cpu_count()} cores")
    print(f"  durable events/s (median)   {r['collector_rate']:>10,.0f}   runs {r['collector_runs']}")
    print(f"  transport floor events/s    {r['floor_rate']:>10,.0f}   runs {r['floor_runs']}")
    print(f"  collector / floor           {ratio:>10.2f}")
    print(f"  at half max ({r['half_rate']:,.0f} ev/s)   p50 {r['half_p50_ms']:.1f} ms   p99 {r['half_p99_ms']:.1f} ms")
    print(f"  closed-loop p99             {r['closed_p99_ms']:>10.1f} ms")
    print(f"  collector peak RSS          {r['peak_mb']:>10.0f} MB")
    print(f"  acknowledged {r['acknowledged']:,} events, landed {r['landed']:,}, failed requests {r['failures']}")
    goals = {
        f">= {GOAL_EVENTS_PER_SECOND:,} durable events/s": r["collector_rate"] >= GOAL_EVENTS_PER_SECOND,
        f">= {GOAL_FLOOR_RATIO} of the floor": ratio >= GOAL_FLOOR_RATIO,
        f"p99 < {GOAL_P99_MS:g} ms at half the maximum rate": r["half_p99_ms"] < GOAL_P99_MS,
        "every acknowledged event landed": r["landed"] == r["acknowledged"],
    }
    for goal, met in goals.items():
        print(f"  goal {goal:<45} {'met' if met else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
