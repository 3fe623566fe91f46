"""Server-side traffic: import web server access logs (nginx / Apache) as Segment ``page`` events.

``python -m collector.access_logs --from /var/log/nginx --site-url https://shop.example.com``

Each line in the *combined* format (``ip - user [time] "request" status bytes "referer" "agent"``, extra
trailing fields allowed) or the *common* format (no referer / agent) is one request. A request becomes a
``page`` event unless a skip rule drops it; every skip is counted by reason:

- ``redirect``: 3xx except 304 (the redirect target is logged as its own request); 304 Not Modified is kept,
  it is a view of a page the browser had cached.
- ``error_status``: 4xx and 5xx (and nginx's 499), also when the request line itself is junk (scanners and
  TLS probes, which the server answers with 400); ``informational_status``: 1xx (e.g. WebSocket upgrades).
- ``method``: not GET or HEAD (forms, APIs and preflights are not page views).
- ``health_check``: a health path (``/healthz`` …) or a probe agent (``kube-probe`` …), see `SkipRules`.
- ``static_asset``: an asset extension (``.css`` ``.js`` images fonts …), a ``/static/`` ``/assets/``
  ``/.well-known/`` prefix, or ``/robots.txt`` ``/sitemap.xml``.

Bots are kept and flagged ``context.bot = true`` (the agent matches `BOT_PATTERN`; common-format logs have
no agent, so nothing is flagged there): the lake's bot enrichment decides what to count. A line in neither
format, with an impossible time, or with a junk request line answered with success goes to
``<lake>/quarantine/access_logs/`` with its file and line number, never silently dropped.

The visitor id is ``srv-`` + HMAC-SHA256(salt, ip|agent|UTC day)[:32]: stable for one client over one day,
and without the salt the IP cannot be recovered from it. **Set a secret salt in production** (the default
`DEFAULT_SALT` is public, so a guessed IP could be checked against an id); the command line uses
ANALYTICS_PII_SALT.

Re-runs import only what is new. ``<data_dir>/state/access_logs.json`` remembers, per file path, its size,
mtime, the SHA-256 of its first 64 KiB (of the decompressed content) and how far it was imported (bytes and
lines). A file whose size and mtime are unchanged is not read. A file whose start still matches a remembered
file (the same path, or a path it was rotated to: ``access.log`` → ``access.log.1`` → ``access.log.2.gz``)
is imported from the remembered offset on; any other file is imported from its start. A last line without
its newline is still being written and is left for the next run (in a ``.gz`` file it is complete).

A messageId is derived from the file's first line and the line number, so re-importing a file (a lost
state file, another lake) gives the same ids and the lake's dedup on messageId removes the copies. If an
import dies between landing a file's lines and saving the state, the next run lands them again with the
same ids. Landing files left open by a killed import are sealed by the collector's start-up repair (the
collector may be writing there, so the import does not repair landing); quarantine files by the next import.
"""

from __future__ import annotations

import argparse
import calendar
import fcntl
import functools
import gzip
import hashlib
import hmac
import os
import posixpath
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import orjson

from analytics_settings import DEFAULT_SALT, load_settings
from collector.landing import LandingZone, partition_key, recover
from collector.protocol import stamp_event

DEFAULT_SOURCE_ID = "access_logs"
QUARANTINE_ZONE = "quarantine/access_logs"
DEFAULT_FILE_PATTERN = "*access*"  # access.log, access.log.1, shop-access_log.2.gz; not error.log
LIBRARY = {"name": "analytics-stack-access-logs", "version": "1"}
HEAD_BYTES = 64 * 1024
FLUSH_BYTES = 1024 * 1024

LINE_PATTERN = re.compile(  # quoted fields may hold Apache's \" escapes
    r'(?P<ip>\S+) \S+ \S+ \[(?P<time>[^\]]*)\] "(?P<request>(?:[^"\\]|\\.)*)" '
    r'(?P<status>\d{3}) (?P<bytes>\d+|-)'
    r'(?: "(?P<referrer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)")?(?: .*)?'
)
TIME_PATTERN = re.compile(
    r"(?P<day>\d{2})/(?P<month>[A-Z][a-z]{2})/(?P<year>\d{4}):(?P<hour>\d{2}):(?P<minute>\d{2}):"
    r"(?P<second>\d{2}) (?P<sign>[+-])(?P<off_hours>\d{2})(?P<off_minutes>\d{2})"
)
MONTHS = {name: number for number, name in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)}
BOT_PATTERN = re.compile(
    r"bot|crawl|spider|slurp|curl|wget|python-requests|python-urllib|aiohttp|httpx|go-http-client"
    r"|java/|okhttp|libwww|scrapy|headless|phantomjs|lighthouse|monitor|pingdom|uptime|preview"
    r"|facebookexternalhit|feedfetcher",
    re.IGNORECASE,
)
_ESCAPE = re.compile(rb"\\(x[0-9A-Fa-f]{2}|.)")


@dataclass(frozen=True)
class SkipRules:
    """Which requests are not page views (see the module docstring for the reasons they are counted as)."""

    static_extensions: frozenset[str] = frozenset({
        ".css", ".js", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".woff", ".woff2", ".ttf", ".map",
        ".webp", ".avif"})
    static_prefixes: tuple[str, ...] = ("/static/", "/assets/", "/.well-known/")
    static_paths: frozenset[str] = frozenset({"/robots.txt", "/sitemap.xml"})
    health_paths: frozenset[str] = frozenset({
        "/health", "/healthz", "/healthcheck", "/health-check", "/_health", "/livez", "/readyz", "/ready",
        "/ping", "/server-status", "/nginx_status"})
    health_agent_prefixes: tuple[str, ...] = ("kube-probe", "elb-healthchecker", "googlehc", "consul health")

    def skip_reason(self, method: str, status: int, path: str, agent: str) -> str | None:
        if status < 200:
            return "informational_status"
        if 300 <= status < 400 and status != 304:
            return "redirect"
        if status >= 400:
            return "error_status"
        if method not in ("GET", "HEAD"):
            return "method"
        lowered = path.lower()
        if lowered.rstrip("/") in self.health_paths or agent.lower().startswith(self.health_agent_prefixes):
            return "health_check"
        if (posixpath.splitext(lowered)[1] in self.static_extensions or lowered in self.static_paths
                or lowered.startswith(self.static_prefixes)):
            return "static_asset"
        return None


DEFAULT_RULES = SkipRules()


@dataclass
class ImportReport:
    files: int = 0  # files read (new, grown or rotated)
    files_unchanged: int = 0
    lines: int = 0
    events: int = 0
    bots: int = 0
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0
    landed_files: list[Path] = field(default_factory=list)
    quarantine_files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        skipped = ", ".join(f"{reason} {count:,}" for reason, count in sorted(self.skipped_by_reason.items()))
        return "\n".join([
            f"files       {self.files:,} read, {self.files_unchanged:,} unchanged",
            f"lines       {self.lines:,}",
            f"events      {self.events:,} page events ({self.bots:,} flagged as bots)",
            f"skipped     {sum(self.skipped_by_reason.values()):,}" + (f" ({skipped})" if skipped else ""),
            f"quarantined {self.quarantined:,} unparseable lines",
            *(f"landed      {path}" for path in self.landed_files),
            *(f"quarantine  {path}" for path in self.quarantine_files),
        ])


@dataclass(frozen=True)
class Request:
    ip: str
    time_ms: int
    method: str
    target: str
    status: int
    body_bytes: int
    referrer: str
    agent: str


class UnparseableLine(ValueError):
    pass


def parse_line(line: str) -> Request:
    """One access log line as a request; raises `UnparseableLine` with the reason."""
    match = LINE_PATTERN.fullmatch(line)
    if match is None:
        raise UnparseableLine("not in the combined or common log format")
    status, parts = int(match["status"]), _unescape(match["request"]).split(" ")
    if not 2 <= len(parts) <= 3 or not parts[0].isalpha() or not parts[1]:
        if status < 400:
            raise UnparseableLine(f"request {match['request']!r} is not `METHOD TARGET PROTOCOL`")
        parts = ["", ""]  # junk the server rejected: counted as an error status
    return Request(
        ip=match["ip"], time_ms=parse_time(match["time"]), method=parts[0].upper(), target=parts[1],
        status=status, body_bytes=0 if match["bytes"] == "-" else int(match["bytes"]),
        referrer=_field(match["referrer"]), agent=_field(match["agent"]))


def parse_time(text: str) -> int:
    """``10/Oct/2026:13:55:36 +0200`` as UTC epoch milliseconds."""
    match = TIME_PATTERN.fullmatch(text)
    if match is None or match["month"] not in MONTHS:
        raise UnparseableLine(f"time {text!r} is not `dd/Mon/yyyy:HH:MM:SS +hhmm`")
    fields = (int(match["year"]), MONTHS[match["month"]], int(match["day"]), int(match["hour"]),
              int(match["minute"]), int(match["second"]))
    if not (1 <= fields[2] <= calendar.monthrange(fields[0], fields[1])[1] and fields[3] < 24
            and fields[4] < 60 and fields[5] < 61):
        raise UnparseableLine(f"time {text!r} is not a valid date and time")
    offset = (int(match["off_hours"]) * 60 + int(match["off_minutes"])) * 60
    return (calendar.timegm(fields) - (offset if match["sign"] == "+" else -offset)) * 1000


def _unescape(text: str) -> str:
    """Undo the log's escaping: Apache's ``\\"`` and ``\\\\``, nginx's ``\\xHH`` bytes."""
    if "\\" not in text:
        return text
    raw = _ESCAPE.sub(lambda m: bytes([int(m[1][1:], 16)]) if len(m[1]) == 3 else m[1], text.encode())
    return raw.decode("utf-8", errors="replace")


def _field(value: str | None) -> str:
    return "" if value is None or value == "-" else _unescape(value)


def iso_millis(epoch_ms: int) -> str:
    seconds, millis = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def anonymous_id(salt: str, ip: str, agent: str, day: str) -> str:
    """The visitor id of one client (ip + agent) on one UTC day; the IP cannot be read back from it."""
    digest = hmac.new(salt.encode(), f"{ip}|{agent}|{day}".encode(), hashlib.sha256).hexdigest()
    return "srv-" + digest[:32]


def message_id(file_identity: str, line_number: int) -> str:
    return "acl-" + hashlib.sha256(f"{file_identity}:{line_number}".encode()).hexdigest()[:32]


def page_event(request: Request, site_url: str, salt: str, msg_id: str) -> dict:
    """The Segment ``page`` event of an accepted request."""
    target = urlsplit(request.target)  # proxies may log an absolute URI
    path = target.path or "/"
    search = f"?{target.query}" if target.query else ""
    page = {"path": path, "url": site_url.rstrip("/") + path + search, "search": search,
            "referrer": request.referrer}
    timestamp = iso_millis(request.time_ms)
    context: dict = {"ip": request.ip, "userAgent": request.agent, "page": page, "library": dict(LIBRARY)}
    if is_bot(request.agent):
        context["bot"] = True
    return {
        "type": "page",
        "anonymousId": anonymous_id(salt, request.ip, request.agent, timestamp[:10]),
        "messageId": msg_id,
        "timestamp": timestamp,
        "properties": {**page, "status": request.status, "bytes": request.body_bytes,
                       "method": request.method},
        "context": context,
        "integrations": {},
    }


@functools.lru_cache(maxsize=4096)  # a log has few distinct agents; the pattern costs ~20 µs a line
def is_bot(agent: str) -> bool:
    return BOT_PATTERN.search(agent) is not None


# --- files and state ---------------------------------------------------------------------------------

def _open_content(path: Path) -> BinaryIO:
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def _resume_point(head: bytes, compressed: bool, size: int, previous: dict[str, dict]) -> tuple[int, int]:
    """(byte offset, lines) to continue from: the furthest remembered import this file's start matches."""
    best = (0, 0)
    for entry in previous.values():
        same_start = (len(head) >= entry["head_bytes"]
                      and hashlib.sha256(head[:entry["head_bytes"]]).hexdigest() == entry["head_sha256"])
        if same_start and (compressed or size >= entry["offset"]) and entry["offset"] > best[0]:
            best = (entry["offset"], entry["lines"])
    return best


def load_state(state_path: Path) -> dict[str, dict]:
    if not state_path.exists():
        return {}
    try:
        return orjson.loads(state_path.read_bytes())["files"]
    except (orjson.JSONDecodeError, KeyError, TypeError) as error:
        raise ValueError(f"import state {state_path} is unreadable ({error}); delete it to re-import every "
                         "file (the lake's dedup on messageId drops the repeated events)") from error


def _save_state(state_path: Path, files: dict[str, dict]) -> None:
    temporary = state_path.with_name(state_path.name + ".tmp")
    with open(temporary, "wb") as handle:
        handle.write(orjson.dumps({"version": 1, "files": files}, option=orjson.OPT_INDENT_2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, state_path)


class _Zone:
    """A LandingZone buffered into ~1 MiB fsyncs, all in the partition of the import's received time."""

    def __init__(self, root: Path, key: str):
        self.zone, self.key, self.buffer = LandingZone(root), key, bytearray()

    def add(self, record: dict) -> None:
        self.buffer += orjson.dumps(record) + b"\n"
        if len(self.buffer) >= FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.zone.append(self.key, bytes(self.buffer))
            self.buffer.clear()


def import_access_logs(log_dir: Path, lake: Path, state_path: Path, site_url: str,
                       source_id: str = DEFAULT_SOURCE_ID, salt: str = DEFAULT_SALT,
                       now_ms: int | None = None, rules: SkipRules = DEFAULT_RULES,
                       pattern: str = DEFAULT_FILE_PATTERN) -> ImportReport:
    """Land the new requests of the access logs in ``log_dir`` (files matching ``pattern``, name order)."""
    if not log_dir.is_dir():
        raise ValueError(f"access log folder {log_dir} does not exist; pass the folder with --from DIR")
    site = urlsplit(site_url)
    if site.scheme not in ("http", "https") or not site.netloc:
        raise ValueError(f"site URL {site_url!r} is not like https://shop.example.com; "
                         "pass it with --site-url")
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    state_path.parent.mkdir(parents=True, exist_ok=True)
    with open(state_path.with_name(state_path.name + ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another access log import holds {lock.name}; "
                               "wait for it to finish") from None
        recover(lake / QUARANTINE_ZONE)  # only imports write there, and the lock keeps them apart
        run = _ImportRun(lake, site_url, source_id, salt, now_ms, rules)
        previous = load_state(state_path)
        state = dict(previous)
        try:
            for path in sorted(log_dir.glob(pattern)):
                if not path.is_file() or path.name.startswith("."):
                    continue
                name, stat = str(path.resolve()), path.stat()
                known = previous.get(name)
                if known and (known["size"], known["mtime_ns"]) == (stat.st_size, stat.st_mtime_ns):
                    run.report.files_unchanged += 1
                    continue
                state[name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns,
                               **run.import_file(path, stat.st_size, previous)}
                _save_state(state_path, state)  # after the file's lines are fsynced
        finally:
            run.report.landed_files = run.landing.zone.seal_all()
            run.report.quarantine_files = run.quarantine.zone.seal_all()
        folder = log_dir.resolve()
        kept = {name: entry for name, entry in state.items()
                if Path(name).parent != folder or Path(name).exists()}
        if kept != state:
            _save_state(state_path, kept)
    run.report.skipped_by_reason = dict(sorted(run.skipped.items()))
    return run.report


class _ImportRun:
    """One import: where lines go, and what was counted."""

    def __init__(self, lake: Path, site_url: str, source_id: str, salt: str, now_ms: int, rules: SkipRules):
        self.site_url, self.source_id, self.salt, self.rules = site_url, source_id, salt, rules
        self.received_at, key = iso_millis(now_ms), partition_key(now_ms)
        self.landing = _Zone(lake / "landing", key)
        self.quarantine = _Zone(lake / QUARANTINE_ZONE, key)
        self.report, self.skipped = ImportReport(), Counter()

    def import_file(self, path: Path, size: int, previous: dict[str, dict]) -> dict:
        """Land the file's new lines; returns its state entry (how far it is imported)."""
        self.report.files += 1
        with _open_content(path) as content:
            head = content.read(HEAD_BYTES)
            compressed = isinstance(content, gzip.GzipFile)
            offset, line_number = _resume_point(head, compressed, size, previous)
            identity, source_file = hashlib.sha256(head.split(b"\n", 1)[0]).hexdigest(), str(path.resolve())
            content.seek(offset)
            for raw in content:
                if not raw.endswith(b"\n") and not compressed:
                    break  # still being written: the next run takes it whole
                offset += len(raw)
                line_number += 1
                self.line(raw, source_file, line_number, identity)
        self.landing.flush()
        self.quarantine.flush()
        return {"head_sha256": hashlib.sha256(head).hexdigest(), "head_bytes": len(head),
                "offset": offset, "lines": line_number}

    def line(self, raw: bytes, source_file: str, line_number: int, file_identity: str) -> None:
        self.report.lines += 1
        line = raw.rstrip(b"\r\n").decode("utf-8", errors="backslashreplace")
        try:
            request = parse_line(line)
        except UnparseableLine as error:
            self.report.quarantined += 1
            self.quarantine.add({"reason": "unparseable_line", "message": str(error),
                                 "source_file": source_file, "line_number": line_number, "line": line,
                                 "receivedAt": self.received_at, "sourceId": self.source_id})
            return
        path = urlsplit(request.target).path or "/"
        reason = self.rules.skip_reason(request.method, request.status, path, request.agent)
        if reason is not None:
            self.skipped[reason] += 1
            return
        event = page_event(request, self.site_url, self.salt, message_id(file_identity, line_number))
        self.report.events += 1
        self.report.bots += event["context"].get("bot", False)
        self.landing.add(stamp_event(event, None, self.received_at, self.source_id))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector.access_logs",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="log_dir", type=Path, help="folder of access logs "
                        "(default: ANALYTICS_ACCESS_LOG_DIR)")
    parser.add_argument("--site-url", help="scheme and host the logged paths belong to, e.g. "
                        "https://shop.example.com (default: ANALYTICS_ACCESS_LOG_SITE_URL)")
    parser.add_argument("--source-id", default=DEFAULT_SOURCE_ID)
    parser.add_argument("--glob", default=DEFAULT_FILE_PATTERN,
                        help="which files of the folder are access logs (default: %(default)s)")
    args = parser.parse_args(argv)
    settings = load_settings()
    if settings.uses_default_salt:
        print("warning: using the public default salt; set a secret ANALYTICS_PII_SALT", file=sys.stderr)
    log_dir = args.log_dir or settings.access_log_dir
    if log_dir is None:
        parser.error("no log folder: pass --from DIR or set ANALYTICS_ACCESS_LOG_DIR")
    try:
        report = import_access_logs(log_dir, settings.lake_path, settings.data_dir / "state" / "access_logs.json",
                                    args.site_url or settings.access_log_site_url, source_id=args.source_id,
                                    salt=settings.pii_salt.get_secret_value(), pattern=args.glob)
    except (ValueError, RuntimeError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
