"""A person's acceptance of a blocked day: who, when, why, for which asset and day (and rules).

A blocking rule stops what depends on its asset, and since every run restarts from the first day that
never succeeded, a day nobody can fix (data that is what it is) would stop the warehouse for good. Accepting
it records the decision in ``<data_dir>/quality/acceptances.jsonl`` (one JSON object a line, appended under
an exclusive lock of the file, never rewritten: the history of decisions is kept); every validation reads it, and a
blocking failure an acceptance covers no longer blocks: the check passes and its metadata names who
accepted it, when and why.

    python -m data_quality accept bronze/events 2024-03-11 --reason "..." [--by NAME] [--rule NAME ...]

or the Dagster job ``accept_quality_failure`` (the same fields as run config).
"""

from __future__ import annotations

import fcntl
import getpass
import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

from analytics_settings import Settings
from data_quality.registry import GATES, suite_info
from data_quality.results import SuiteResult


@dataclass(frozen=True)
class Acceptance:
    """``rules`` empty: every blocking rule of the asset on that day."""

    asset: str
    day: str
    reason: str
    by: str
    at: str
    rules: tuple[str, ...] = ()

    def covers(self, asset: str, day: str, rule: str) -> bool:
        return self.asset == asset and self.day == day and (not self.rules or rule in self.rules)

    @property
    def summary(self) -> str:
        return f"accepted by {self.by} at {self.at}: {self.reason}"


def store_path(settings: Settings) -> Path:
    return settings.data_dir / "quality" / "acceptances.jsonl"


def accept(settings: Settings, asset: str, day: str, reason: str, by: str | None = None,
           rules: tuple[str, ...] = ()) -> Acceptance:
    """Record that ``by`` (the login name when None) accepts the blocking failures of ``asset`` on ``day``
    (only ``rules`` when given) because of ``reason``."""
    suite_info(asset)  # a KeyError that lists the suites
    try:
        date.fromisoformat(day)
    except ValueError:
        raise ValueError(f"day {day!r} is not a day; pass the UTC arrival day as YYYY-MM-DD") from None
    if not reason.strip():
        raise ValueError("an acceptance needs a reason: say why the day's data may go on (--reason \"...\")")
    unknown = [rule for rule in rules if GATES[asset].get(rule, ("",))[0] != "blocking"]
    if unknown:
        blocking = [rule for rule, (kind, _) in GATES[asset].items() if kind == "blocking"]
        raise ValueError(f"{', '.join(unknown)}: not a blocking rule of {asset}; its blocking rules are "
                         f"{', '.join(blocking)}")
    acceptance = Acceptance(asset=asset, day=day, reason=reason.strip(), by=(by or getpass.getuser()).strip(),
                            at=datetime.now(UTC).isoformat(timespec="seconds"), rules=tuple(rules))
    path = store_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as store:
        fcntl.flock(store.fileno(), fcntl.LOCK_EX)  # one whole line per writer
        store.write(json.dumps(asdict(acceptance)) + "\n")
        store.flush()
    return acceptance


def acceptances(settings: Settings) -> list[Acceptance]:
    """Every recorded acceptance, oldest first."""
    path = store_path(settings)
    if not path.exists():
        return []
    found = []
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            found.append(Acceptance(**{**record, "rules": tuple(record.get("rules", ()))}))
    return found


def applied(result: SuiteResult, found: list[Acceptance]) -> SuiteResult:
    """``result`` with each failed blocking expectation that an acceptance covers marked ``accepted`` (the
    latest acceptance that covers it), so it no longer blocks."""
    def accepted(name: str) -> dict | None:
        covering = [a for a in found if a.covers(result.asset, result.partition, name)]
        return {"by": covering[-1].by, "at": covering[-1].at, "reason": covering[-1].reason} if covering else None

    return replace(result, expectations=tuple(
        replace(e, accepted=accepted(e.name)) if not e.success and e.severity == "blocking" else e
        for e in result.expectations))
