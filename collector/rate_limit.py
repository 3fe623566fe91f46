"""Per-source token buckets: a source may send ``rate`` events per second, with a burst of ``burst``."""

from __future__ import annotations

import math
import time


class TokenBuckets:
    def __init__(self, rate: float, burst: float, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # source -> (tokens, last refill)

    def take(self, source: str, events: int) -> float:
        """Take ``events`` tokens; returns 0 when allowed, else the seconds to wait before retrying."""
        now = self._clock()
        tokens, last = self._buckets.get(source, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        # A batch bigger than the burst passes on a full bucket and leaves it in debt, so it is not
        # refused forever and the source still averages ``rate``.
        needed = min(events, self.burst)
        if needed <= tokens:
            self._buckets[source] = (tokens - events, now)
            return 0.0
        self._buckets[source] = (tokens, now)
        return max(1.0, math.ceil((needed - tokens) / self.rate))
