"""Group commit: concurrent requests share one write + fsync of a landing zone.

Requests hand their lines to :meth:`GroupCommitter.commit` and wait. One flush at a time runs on a
dedicated thread (the zone is single-threaded); whatever arrives while a flush is on disk is written by
the next one, so under load one fsync acknowledges many requests, and an idle collector pays one fsync
per request.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from collector.landing import LandingZone


class GroupCommitter:
    def __init__(self, zone: LandingZone, on_fsync: Callable[[float, int], None] = lambda s, n: None):
        self.zone = zone
        self._on_fsync = on_fsync
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"commit-{zone.root.name}")
        self._pending: list[tuple[str, bytes, asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def commit(self, key: str, data: bytes) -> None:
        """Return once ``data`` (complete lines) is durable in partition ``key``; raise OSError if not."""
        future = asyncio.get_running_loop().create_future()
        self._pending.append((key, data, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush_until_idle())
        await future

    async def run_on_writer(self, call: Callable[[], object]) -> object:
        """Run ``call`` on the writer thread, serialised with the flushes (sealing, shutdown)."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, call)

    async def close(self) -> None:
        while self._flusher is not None:
            await asyncio.sleep(0.01)
        await self.run_on_writer(self.zone.seal_all)
        self._thread.shutdown(wait=True)

    async def _flush_until_idle(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._pending:
                group, self._pending = self._pending, []
                by_key: dict[str, list[tuple[bytes, asyncio.Future[None]]]] = defaultdict(list)
                for key, data, future in group:
                    by_key[key].append((data, future))
                for key, items in by_key.items():
                    payload = b"".join(data for data, _ in items)
                    try:
                        await loop.run_in_executor(self._thread, self._write, key, payload)
                    except OSError as error:
                        for _, future in items:
                            if not future.done():
                                future.set_exception(error)
                    else:
                        for _, future in items:
                            if not future.done():
                                future.set_result(None)
        finally:
            self._flusher = None

    def _write(self, key: str, payload: bytes) -> None:
        started = time.perf_counter()
        self.zone.append(key, payload)
        self._on_fsync(time.perf_counter() - started, len(payload))
