"""Crash test: SIGKILL the collector at random moments under concurrent load, 50 times.

Every acknowledged event must be in the sealed landing files exactly once, except events whose batch the
client re-sent after a failed request (then at most once per send), and every torn tail must be repaired.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import uuid

import httpx

from collector.landing import sealed_files
from tests.collector.conftest import start_collector
from tests.conftest import free_port

KILLS = 50
CLIENTS = 8
EVENTS_PER_BATCH = 20
AUTH = ("wk_test", "")


class LoadClients:
    """Clients that send batches forever; a failed batch is re-sent unchanged (a retry, as SDKs do)."""

    def __init__(self, url: str):
        self.url = url
        self.acknowledged: set[str] = set()
        self.sends: dict[str, int] = {}
        self.stop = threading.Event()

    async def client(self, seed: int) -> None:
        rng = random.Random(seed)
        async with httpx.AsyncClient(auth=AUTH, timeout=5) as http:
            batch = None
            while not self.stop.is_set():
                if batch is None:
                    batch = [{"type": "track", "event": "Crash Test", "userId": f"u{rng.randrange(100)}",
                              "messageId": str(uuid.UUID(int=rng.getrandbits(128))),
                              "properties": {"padding": "x" * rng.randrange(50, 2000)}}
                             for _ in range(EVENTS_PER_BATCH)]
                for event in batch:
                    self.sends[event["messageId"]] = self.sends.get(event["messageId"], 0) + 1
                try:
                    response = await http.post(self.url + "/v1/batch", json={"batch": batch})
                except httpx.HTTPError:
                    await asyncio.sleep(0.02)
                    continue  # the same batch again: a retry
                if response.status_code == 200 and response.json()["accepted"] == len(batch):
                    self.acknowledged.update(event["messageId"] for event in batch)
                    batch = None

    def run(self) -> None:
        async def main():
            await asyncio.gather(*(self.client(seed) for seed in range(CLIENTS)))

        asyncio.run(main())


def test_every_acknowledged_event_survives_sigkill(tmp_path):
    rng = random.Random(2026)
    data_dir, port = tmp_path / "data", free_port()
    load = LoadClients(f"http://127.0.0.1:{port}")
    torn_tails_written = 0
    server = start_collector(data_dir, tmp_path / "collector.log", port=port)
    clients = threading.Thread(target=load.run)
    clients.start()
    try:
        for kill in range(KILLS):
            threading.Event().wait(rng.uniform(0.05, 0.5))
            server.kill()  # SIGKILL
            if kill % 5 == 0:  # what a power cut mid-write leaves: a partial last line in an open file
                for open_file in (data_dir / "lake" / "landing").rglob("*.ndjson.open"):
                    with open(open_file, "ab") as handle:
                        handle.write(b'{"type":"track","messageId":"torn-')
                    torn_tails_written += 1
            server = start_collector(data_dir, tmp_path / "collector.log", port=port)
    finally:
        load.stop.set()
        clients.join(60)
    server.stop()

    landing = data_dir / "lake" / "landing"
    assert not list(landing.rglob("*.open")), "files left open after a graceful stop"
    landed: dict[str, int] = {}
    for path in sealed_files(landing, None):
        data = path.read_bytes()
        assert data.endswith(b"\n"), f"torn tail left in {path}"
        for line in data.splitlines():
            event = json.loads(line)  # every line is a whole event
            landed[event["messageId"]] = landed.get(event["messageId"], 0) + 1

    assert len(load.acknowledged) > 1000, "the load was too light to mean anything"
    assert torn_tails_written > 0
    missing = load.acknowledged - landed.keys()
    assert not missing, f"{len(missing)} acknowledged events lost"
    over = {m: n for m, n in landed.items() if n > load.sends.get(m, 0)}
    assert not over, "events landed more often than they were sent"
    duplicated_without_retry = [m for m, n in landed.items() if n > 1 and load.sends[m] == 1]
    assert not duplicated_without_retry
    assert "torn-" not in "".join(landed)
    assert "sealed files left open by a crash" in server.log()
