"""The suites, one per asset, keyed like the Dagster assets they check (``bronze/events`` is
``AssetKey(["bronze", "events"])``).

Only names and descriptions live here, so the registry can be read when a Dagster code location loads;
each suite's module (expectations and batch loading, which import Great Expectations) is imported when a
partition is validated.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from data_quality.results import Severity


@dataclass(frozen=True)
class SuiteInfo:
    asset: str
    suite_name: str
    partition: str
    description: str
    module: str
    reads_warehouse: bool = False  # checked on the build copy before it is published (``warehouse.building``)

    @property
    def asset_key_path(self) -> list[str]:
        """The Dagster asset key as a list (``dg.AssetKey(info.asset_key_path)``)."""
        return self.asset.split("/")

    def load_module(self) -> ModuleType:
        return importlib.import_module(self.module)


SUITES: dict[str, SuiteInfo] = {info.asset: info for info in (
    SuiteInfo(
        asset="landing/events", suite_name="landing_events", module="data_quality.suites.landing_events",
        partition="arrival day R: the sealed landing lines of received_date=R and what the collector "
                  "quarantined that day",
        description="Stored Segment events as the collector landed them: required fields, types, arrival "
                    "inside the partition, event times, retried messageIds, collector rejects, volume."),
    SuiteInfo(
        asset="bronze/events", suite_name="bronze_events", module="data_quality.suites.bronze_events",
        partition="arrival day R: bronze/events/event_date=*/received_date=R and the lake quarantine of R",
        description="Compacted events: required fields, types, one row per messageId, event times in the "
                    "accepted window, revenue, enrichment coverage, lake quarantine, volume."),
    SuiteInfo(
        asset="gold/daily_event_rollup", suite_name="gold_daily_event_rollup",
        module="data_quality.suites.gold_daily_event_rollup",
        partition="arrival day R: the event days whose bronze received events on R",
        description="Spark's daily rollup against bronze: events and revenue of every group equal bronze."),
    SuiteInfo(
        asset="marts/dim_sessions", suite_name="marts_dim_sessions",
        module="data_quality.suites.marts_dim_sessions",
        partition="day D: the human sessions that started on D, against the 28 days before it",
        description="Session distributions against recent history: duration, events per session, revenue "
                    "per purchase.", reads_warehouse=True),
)}

# What the failure of each rule does, in one place: a **blocking** rule stops what depends on the asset (until
# the data is fixed or a person accepts the day: ``python -m data_quality accept``), a **warning** is shown
# and the run goes on. A rule blocks only when it guards a guarantee of our own code (the collector's
# checks, compaction's dedup and time window, the rollup against its input): its failure is a bug no user's
# events can cause. Whatever one user's odd events or a real change in traffic can trip warns, with its
# count and offending rows, and the rest of the day is published. The suites take their severities from
# here; the README's table and ``python -m data_quality list`` render it.
WRITER = "the collector writes only lines that pass this check: a failure is a broken writer, not a user's event"
COMPACTION = "compaction guarantees it for every row: a failure is a bug in compaction, not a user's event"
VOLUME = ("volume moves for real reasons (a campaign ends, a holiday, an outage): news for an alert, not "
          "corrupt data; the band adapts to a level that holds")
GATES: dict[str, dict[str, tuple[Severity, str]]] = {
    "landing/events": {
        "quarantine_share": ("warning", "rejected lines are quarantined and counted; one client can send many"),
        "required_fields": ("blocking", WRITER),
        "type_in_spec": ("blocking", WRITER),
        "received_in_partition": ("blocking", ("the collector files each line under its arrival day: a failure "
                                              "is a broken writer, and the line would count on the wrong day")),
        "message_id_unique": ("warning", "retries are expected; compaction keeps one copy"),
        "event_time_window": ("warning", "compaction quarantines or clamps each such event, and counts it"),
        "volume_band": ("warning", VOLUME),
    },
    "bronze/events": {
        "quarantine_share": ("warning", ("quarantined lines are counted and replayable; one client's backlog of "
                                        "old events can pass the share")),
        "required_fields": ("blocking", COMPACTION),
        "type_in_spec": ("blocking", COMPACTION),
        "message_id_unique": ("blocking", COMPACTION),
        "event_time_window": ("blocking", COMPACTION),
        "revenue_not_negative": ("warning", ("one user's event (a refund sent as a negative amount) trips it; "
                                            "the offending rows are counted and shown")),
        "device_parsed": ("warning", ("one heavy user with an unknown user agent can pass 10%; such events "
                                     "count as device `other`")),
        "country_resolved": ("warning", ("one heavy user behind a private or unknown IP can pass 10%; such "
                                        "events count as country `unresolved`")),
        "volume_band": ("warning", VOLUME),
    },
    "gold/daily_event_rollup": {
        "events_equal_bronze": ("blocking", ("the rollup against its own input: a difference is a rollup bug "
                                            "or a rollup of other bronze than is there now")),
        "revenue_equals_bronze": ("blocking", "as above, for revenue"),
    },
    "marts/dim_sessions": {
        rule: ("warning", "a distribution against the last 28 days: real changes (a sale, a redesign) move it")
        for rule in ("session_duration_median", "session_duration_mean", "events_per_session_median",
                     "events_per_session_mean", "revenue_per_purchase_median")}
    | {"orders_in_unknown_currency": ("warning", ("one shop's orders in a currency without rates trip it; they are "
                                                  "left out of converted revenue and counted"))},
}


def severity(asset: str, rule: str) -> Severity:
    """Whether ``rule`` of ``asset``'s suite blocks or warns (``GATES``)."""
    try:
        return GATES[asset][rule][0]
    except KeyError:
        raise KeyError(f"rule {rule!r} of {asset!r} is not in data_quality.registry.GATES; add it there with "
                       "its severity and why") from None


def gates_table() -> str:
    """``GATES`` as a Markdown table (the README's, and ``python -m data_quality list``)."""
    lines = ["| asset | rule | on failure | why |", "| --- | --- | --- | --- |"]
    lines += [f"| `{asset}` | `{rule}` | {kind} | {why} |"
              for asset, rules in GATES.items() for rule, (kind, why) in rules.items()]
    return "\n".join(lines)


def suite_info(asset: str) -> SuiteInfo:
    """The suite of ``asset`` (``"bronze/events"``; a Dagster ``AssetKey.to_user_string()`` works too)."""
    try:
        return SUITES[asset]
    except KeyError:
        raise KeyError(f"no quality suite for asset {asset!r}; suites exist for {', '.join(SUITES)}") from None
