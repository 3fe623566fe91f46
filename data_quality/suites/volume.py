"""The volume rule landing and bronze share: a day's accepted rows against the same weekday of earlier
weeks, or against the level of the last days once a change has lasted (``history.volume_band``). The counts
are the bronze rows of arrival days R-7, R-14, R-21, R-1..R-3 and their own weekdays' earlier weeks (read
from Parquet footers, so history costs nothing; for landing they are the landed lines less duplicates and
lake rejects, ~1% fewer).

It only warns: a lasting change in volume is news for an alert, not corrupt data, and a blocking volume
rule stopped the warehouse for good when a shop's traffic fell 5× (every later day waited on it).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import duckdb
import great_expectations.expectations as gxe
import pandas as pd
from great_expectations.expectations.row_conditions import Column

from analytics_settings import Settings
from data_quality import history
from data_quality.lake import bronze_files, file_list, scalar
from data_quality.rules import parameter, rule

BAND_LOW, BAND_HIGH = 0.7, 1.5
ACCEPTED = Column("quarantine_reason").is_null()


def expectations(asset: str, rows: str) -> list:
    return [
        rule(asset, gxe.ExpectTableRowCountToBeBetween, "volume_band", row_condition=ACCEPTED,
             min_value=parameter("volume_low"), max_value=parameter("volume_high"),
             notes=f"The day's {rows} are within {BAND_LOW:g}–{BAND_HIGH:g} × the median of the same weekday in "
                   "the previous three weeks (bronze rows of R-7, R-14, R-21; skipped with fewer than two), or "
                   f"× the median of the last {history.NEW_LEVEL_DAYS} days once each of them lay outside the band "
                   "of its own weekday on the same side: a lasting change warns for a few days, then is the new "
                   "normal. Far below means a lost partition (a collector or a sync that did not deliver) as "
                   "well as a real drop."),
    ]


def bounds(con: duckdb.DuckDBPyConnection, settings: Settings, day: date, newest_arrival: datetime | None,
           now: datetime | None = None) -> tuple[dict, dict, dict]:
    """(parameters, skipped rules, facts) of the volume rule for arrival day ``day``.

    While the day is still open (a run before it ended), earlier days are counted up to the same time of day.
    """
    cutoff = history.open_day_cutoff(day, now or datetime.now(UTC), newest_arrival)
    earlier_days = history.volume_history_days(day)
    counts = {earlier: _bronze_rows(con, settings, earlier, cutoff) for earlier in earlier_days}
    band = history.volume_band(day, counts, BAND_LOW, BAND_HIGH)
    weeks = {earlier.isoformat(): counts[earlier] for earlier in earlier_days[:len(history.WEEKS_BACK)]}
    facts = {"volume_history": weeks}
    if cutoff is not None:
        facts["volume_counted_up_to"] = str(cutoff)
    if band is None:
        note = (f"fewer than {history.MIN_WEEKS} earlier weeks with bronze rows on this weekday "
                f"({', '.join(f'{d}: {c}' for d, c in weeks.items())})")
        return {}, {"volume_band": note}, facts
    facts |= {"volume_baseline": band.baseline, "volume_recent": band.recent, "volume_new_level": band.new_level}
    return {"volume_low": band.low, "volume_high": band.high}, {}, facts


def newest(times: pd.Series) -> datetime | None:
    """The latest of ``times`` (naive UTC), or None."""
    latest = times.max()
    return None if pd.isna(latest) else latest.to_pydatetime()


def _bronze_rows(con: duckdb.DuckDBPyConnection, settings: Settings, day: date,
                 cutoff: timedelta | None) -> int | None:
    files = bronze_files(con, settings, day)
    if not files:
        return None
    if cutoff is None:  # answered from the Parquet footers
        return int(scalar(con, f"SELECT count(*) FROM read_parquet({file_list(files)})"))
    return int(scalar(con, f"SELECT count(*) FROM read_parquet({file_list(files)}) "
                           "WHERE received_at < ?::TIMESTAMP + to_microseconds(?)",
                      [day.isoformat(), cutoff // timedelta(microseconds=1)]))
