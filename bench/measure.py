"""What the benchmarks share: the peak memory of a process tree, and generated landing data cached per size.

    python -m bench.measure --generate-shard LAKE USERS SEED START DAYS   # one generator process (internal)

Generated landing zones are cached under a benchmark's folder as ``events-N/lake`` with a
``complete.json`` written last, so an interrupted generation is redone and a finished one never is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SECONDS = 0.2
CALIBRATION_USERS = 2000
GENERATOR_SHARDS = 2  # parallel generator processes (different seeds, so different messageIds)

# ------------------------------------------------------------------ measuring a process tree


class TreeMonitor:
    """Peak RSS summed over a process and all its descendants, sampled every SAMPLE_SECONDS.

    ``kind_of`` names what a process is (e.g. "spark", "dbt"); the peak of each kind's sum is kept too,
    which says which stage of a chain set the peak. A descendant's children get its kind unless ``kind_of``
    names one of their own.
    """

    def __init__(self, pid: int, kind_of: Callable[[psutil.Process], str | None] | None = None):
        self.root = psutil.Process(pid)
        self.peak_bytes = 0
        self.peak_bytes_by_kind: Counter = Counter()
        self.at_peak_by_kind: Counter = Counter()  # the kinds' shares in the sample of the peak
        self.peak_seconds = 0.0  # when the peak was sampled, from the start
        self._cpu_seconds: dict[int, float] = {}  # user + system CPU of each process, as last sampled
        self._started = time.perf_counter()
        self._kind_of = kind_of
        self._kinds: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _kind(self, process: psutil.Process) -> str:
        if process.pid not in self._kinds:
            kind = None
            try:
                kind = self._kind_of(process) if process is not self.root else None
                parent = process.ppid()
            except psutil.Error:
                parent = None
            if kind is None:
                kind = self._kinds.get(parent, "root") if parent is not None else "root"
            self._kinds[process.pid] = kind
        return self._kinds[process.pid]

    def _run(self) -> None:
        while not self._stop.is_set():
            total = 0
            by_kind: Counter = Counter()
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for process in processes:  # parents come before their children
                try:
                    if process is not self.root and _runs_its_parents_program(process):
                        continue
                    rss = process.memory_info().rss
                    cpu = process.cpu_times()
                    self._cpu_seconds[process.pid] = cpu.user + cpu.system
                except psutil.Error:
                    continue
                total += rss
                if self._kind_of is not None:
                    by_kind[self._kind(process)] += rss
            if total > self.peak_bytes:
                self.peak_bytes, self.at_peak_by_kind = total, by_kind
                self.peak_seconds = time.perf_counter() - self._started
            for kind, rss in by_kind.items():
                self.peak_bytes_by_kind[kind] = max(self.peak_bytes_by_kind[kind], rss)
            self._stop.wait(SAMPLE_SECONDS)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak_bytes / 1e9

    @property
    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) of the tree, up to each process's last sample: what a run costs whatever
        else loads the machine."""
        return sum(self._cpu_seconds.values())


def _runs_its_parents_program(process: psutil.Process) -> bool:
    """Whether ``process`` is a fork that has not exec'd yet, whose memory is its parent's: the JVM starts every
    shell command (Hadoop's ``chmod`` of each file it writes on a local disk) by vfork, and for that instant the
    child reports the whole JVM's RSS again (a +2.7 GB peak with a 2 GB heap, when a sample falls on one)."""
    parent = process.parent()
    return parent is not None and process.exe() == parent.exe() and process.cmdline() == parent.cmdline()


@dataclass
class Measured:
    """One command's wall time and peak memory (GB): of the whole tree, each kind's own peak, each kind's share
    of the tree's peak, and when the tree's peak was sampled (seconds from the start)."""

    seconds: float
    peak_gb: float
    peak_gb_by_kind: dict[str, float] = field(default_factory=dict)
    at_peak_gb_by_kind: dict[str, float] = field(default_factory=dict)
    peak_at_seconds: float = 0.0
    exit_code: int = 0
    cpu_seconds: float = 0.0


def measure_command(command: list[str], env: dict, log: Path, timeout: float = 6 * 3600,
                    kind_of: Callable[[psutil.Process], str | None] | None = None,
                    cwd: Path = REPO, check: bool = True) -> Measured:
    """Run ``command`` with its output in ``log``; fails with the log's tail on a non-zero exit when ``check``."""
    started = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=subprocess.STDOUT)
        monitor = TreeMonitor(process.pid, kind_of)
        try:
            code = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            peak = monitor.stop()
    seconds = time.perf_counter() - started
    if code != 0 and check:
        raise RuntimeError(f"{' '.join(command[:4])} … exited with {code}; log {log}:\n"
                           f"{log.read_text(errors='replace')[-4000:]}")
    return Measured(seconds, peak, {kind: rss / 1e9 for kind, rss in monitor.peak_bytes_by_kind.items()},
                    {kind: rss / 1e9 for kind, rss in monitor.at_peak_by_kind.items()}, monitor.peak_seconds, code,
                    monitor.cpu_seconds)


def run_measured(command: list[str], env: dict, log: Path, timeout: float = 6 * 3600) -> tuple[float, float]:
    """Run ``command``; (wall seconds, peak tree RSS in GB). Fails with the log's tail on a non-zero exit."""
    measured = measure_command(command, env, log, timeout)
    return measured.seconds, measured.peak_gb


# ------------------------------------------------------------------ landing data (generated once per size)


def count_landing(lake: Path) -> dict[str, dict[str, int]]:
    """Lines and bytes of the landing zone per arrival day."""
    counts: Counter = Counter()
    sizes: Counter = Counter()
    for path in (lake / "landing").glob("received_date=*/hour=*/*.ndjson"):
        day = path.parent.parent.name.removeprefix("received_date=")
        with open(path, "rb") as handle:
            counts[day] += sum(block.count(b"\n") for block in iter(lambda: handle.read(1 << 24), b""))
        sizes[day] += path.stat().st_size
    return {day: {"events": counts[day], "bytes": sizes[day]} for day in sorted(counts)}


def generate_shard(lake: Path, users: int, seed: int, start: date, days: int) -> None:
    """One generator process: ``days`` days from ``start`` for ``users`` users into ``lake``'s landing zone."""
    from collector.generator.model import GeneratorConfig
    from collector.generator.run import generate
    from collector.generator.sinks import LandingSink

    truth = Path(tempfile.mkdtemp(prefix="bench-truth-"))
    try:
        generate(GeneratorConfig(start=start, users=users, days=days, seed=seed),
                 LandingSink(lake, "bench", writer_id=f"bench-{seed}"), truth)
    finally:
        shutil.rmtree(truth, ignore_errors=True)


@dataclass(frozen=True)
class Traffic:
    """What a benchmark generates: ``days`` simulated days from ``start``; the lines that arrive on
    ``counted_days`` are the events a size counts."""

    start: date
    days: int
    counted_days: tuple[date, ...]

    def counted(self, counts: dict[str, dict[str, int]]) -> int:
        return sum(counts.get(day.isoformat(), {"events": 0})["events"] for day in self.counted_days)


def calibration(cache: Path, traffic: Traffic, key: str = "events_per_user") -> float:
    """Counted events per generated user (cached in ``cache/calibration.json`` under ``key``)."""
    path = cache / "calibration.json"
    if path.exists():
        return json.loads(path.read_text())[key]
    with tempfile.TemporaryDirectory(prefix="bench-calibrate-", dir=cache) as folder:
        generate_shard(Path(folder) / "lake", CALIBRATION_USERS, 100, traffic.start, traffic.days)
        counts = count_landing(Path(folder) / "lake")
    per_user = traffic.counted(counts) / CALIBRATION_USERS
    path.write_text(json.dumps({key: per_user, "counts": counts}))
    return per_user


def cached_landing(events: int, cache: Path, traffic: Traffic, calibration_key: str = "events_per_user",
                label: str = "") -> tuple[Path, dict]:
    """The cached landing zone for ``events`` counted events (generated now if missing), and its info."""
    folder = cache / f"events-{events}"
    done = folder / "complete.json"
    if done.exists():
        return folder / "lake", json.loads(done.read_text())
    per_user = calibration(cache, traffic, calibration_key)
    users = max(GENERATOR_SHARDS, round(events / per_user))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    print(f"  generating ~{events:,} events ({users:,} users x {label or f'{traffic.days} days'}, "
          f"{GENERATOR_SHARDS} processes) into {folder} …", flush=True)
    started = time.perf_counter()
    shards = [subprocess.Popen([sys.executable, "-m", "bench.measure", "--generate-shard", str(folder / "lake"),
                                str(users // GENERATOR_SHARDS + (i < users % GENERATOR_SHARDS)), str(i + 1),
                                traffic.start.isoformat(), str(traffic.days)],
                               cwd=REPO, stdin=subprocess.DEVNULL) for i in range(GENERATOR_SHARDS)]
    if any(shard.wait() != 0 for shard in shards):
        raise RuntimeError(f"generating the landing data for {events:,} events failed")
    shutil.rmtree(folder / "lake" / "quarantine", ignore_errors=True)  # the collector's; not compacted
    info = {"users": users, "seconds": round(time.perf_counter() - started, 1),
            "days": count_landing(folder / "lake")}
    done.write_text(json.dumps(info, indent=2))
    return folder / "lake", info


def link_landing(source: Path, target: Path, days: Iterable[date] | None = None) -> int:
    """Hard-link the landing files of ``days`` (every day when None) from lake ``source`` into lake ``target``;
    the number of files linked. Links cost no disk and keep the files' modification times."""
    wanted = None if days is None else {f"received_date={day.isoformat()}" for day in days}
    linked = 0
    for path in (source / "landing").rglob("*.ndjson"):
        if wanted is not None and path.parent.parent.name not in wanted:
            continue
        link = target / path.relative_to(source)
        link.parent.mkdir(parents=True, exist_ok=True)
        os.link(path, link)
        linked += 1
    return linked


def main() -> int:
    if sys.argv[1:2] != ["--generate-shard"] or len(sys.argv) != 7:
        sys.exit("usage: python -m bench.measure --generate-shard LAKE USERS SEED START DAYS")
    lake, users, seed, start, days = sys.argv[2:]
    generate_shard(Path(lake), int(users), int(seed), date.fromisoformat(start), int(days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
