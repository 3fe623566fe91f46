"""The volume rules landing and bronze share: a day's accepted rows against the same weekday of earlier
weeks, whose counts are the bronze rows of arrival days R-7, R-14 and R-21 (read from Parquet footers, so
history costs nothing; for landing they are the landed lines less duplicates and lake rejects, ~1% fewer).
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
from data_quality.rules import blocking, parameter, warning

BAND_LOW, BAND_HIGH = 0.7, 1.5
FLOOR = 0.25
ACCEPTED = Column("quarantine_reason").is_null()


def expectations(rows: str) -> list:
    return [
        warning(gxe.ExpectTableRowCountToBeBetween, "volume_band", row_condition=ACCEPTED,
                min_value=parameter("volume_low"), max_value=parameter("volume_high"),
                notes=f"The day's {rows} are within {BAND_LOW:g}–{BAND_HIGH:g} × the median of the same "
                      "weekday in the previous three weeks (bronze rows of R-7, R-14, R-21; skipped with fewer "
                      "than two). A warning: volume moves for real reasons (a holiday, an outage)."),
        blocking(gxe.ExpectTableRowCountToBeBetween, "volume_floor", row_condition=ACCEPTED,
                 min_value=parameter("volume_floor"),
                 notes=f"The day's {rows} are at least {FLOOR:g} × that median: less means a lost partition "
                       "(a collector or a sync that did not deliver), and every count of the day would be "
                       "wrong."),
    ]


def bounds(con: duckdb.DuckDBPyConnection, settings: Settings, day: date, newest_arrival: datetime | None,
           now: datetime | None = None) -> tuple[dict, dict, dict]:
    """(parameters, skipped rules, facts) of the volume rules for arrival day ``day``.

    While the day is still open (a run before it ended), earlier weeks are counted up to the same time of day.
    """
    cutoff = history.open_day_cutoff(day, now or datetime.now(UTC), newest_arrival)
    weeks = {earlier.isoformat(): _bronze_rows(con, settings, earlier, cutoff)
             for earlier in history.same_weekday_days(day)}
    band = history.volume_band(weeks, BAND_LOW, BAND_HIGH, FLOOR)
    facts = {"volume_history": weeks}
    if cutoff is not None:
        facts["volume_counted_up_to"] = str(cutoff)
    if band is None:
        note = (f"fewer than {history.MIN_WEEKS} earlier weeks with bronze rows on this weekday "
                f"({', '.join(f'{d}: {c}' for d, c in weeks.items())})")
        return {}, {"volume_band": note, "volume_floor": note}, facts
    facts["volume_baseline"] = band.baseline
    return {"volume_low": band.low, "volume_high": band.high, "volume_floor": band.floor}, {}, facts


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
