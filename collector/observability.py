"""Prometheus counters kept in-process, and structured JSON logs without secrets or client addresses."""

from __future__ import annotations

import bisect
import logging
import sys
from collections import Counter

import orjson

FSYNC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class CollectorMetrics:
    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()  # by source
        self.rejected: Counter[str] = Counter()  # by reason
        self.responses: Counter[int] = Counter()  # by status
        self.received_bytes = 0
        self.landed_bytes = 0
        self.fsync_counts = [0] * (len(FSYNC_BUCKETS) + 1)
        self.fsync_sum = 0.0
        self.sealed_files = 0

    def observe_fsync(self, seconds: float, payload_bytes: int) -> None:
        self.fsync_counts[bisect.bisect_left(FSYNC_BUCKETS, seconds)] += 1
        self.fsync_sum += seconds
        self.landed_bytes += payload_bytes

    def render(self) -> bytes:
        lines = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        family("collector_events_accepted_total", "counter", "Events landed durably, by source.")
        lines += [f'collector_events_accepted_total{{source="{s}"}} {n}' for s, n in sorted(self.accepted.items())]
        family("collector_events_rejected_total", "counter", "Events or requests refused, by reason.")
        lines += [f'collector_events_rejected_total{{reason="{r}"}} {n}' for r, n in sorted(self.rejected.items())]
        family("collector_http_responses_total", "counter", "Responses to ingestion requests, by status.")
        lines += [f'collector_http_responses_total{{status="{s}"}} {n}' for s, n in sorted(self.responses.items())]
        family("collector_received_bytes_total", "counter", "Request body bytes received (after decoding).")
        lines.append(f"collector_received_bytes_total {self.received_bytes}")
        family("collector_landed_bytes_total", "counter", "Bytes appended and fsynced to landing and quarantine.")
        lines.append(f"collector_landed_bytes_total {self.landed_bytes}")
        family("collector_sealed_files_total", "counter", "Landing and quarantine files sealed by rename.")
        lines.append(f"collector_sealed_files_total {self.sealed_files}")
        family("collector_fsync_seconds", "histogram", "Latency of one group commit (write + fdatasync).")
        cumulative = 0
        for bound, count in zip((*FSYNC_BUCKETS, float("inf")), self.fsync_counts):
            cumulative += count
            label = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'collector_fsync_seconds_bucket{{le="{label}"}} {cumulative}')
        lines.append(f"collector_fsync_seconds_sum {self.fsync_sum:.6f}")
        lines.append(f"collector_fsync_seconds_count {cumulative}")
        return ("\n".join(lines) + "\n").encode()


class JsonLogFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"), "level": record.levelname.lower(),
                 "logger": record.name, "message": record.getMessage()}
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn's access log prints client addresses; it is off, and its other loggers use our format
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
