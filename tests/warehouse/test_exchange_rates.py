"""The reporting currency and the exchange rates: the shipped seed, a user's rates file, the settings' checks,
and a changed reporting currency (refused until a full refresh, which then converts every order again)."""

from __future__ import annotations

import csv
import importlib.util
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest

from analytics_settings import load_settings
from collector.generator.truth import EXCHANGE_RATES, convert, read_exchange_rates
from tests.conftest import query, warehouse_settings
from tests.warehouse.conftest import serve_a_copy
from warehouse import build_and_publish, build_args
from warehouse.project import DBT_PROJECT_DIR, run_dbt

SEED_SCRIPT = DBT_PROJECT_DIR / "seeds" / "exchange_rates.py"


def test_the_seed_is_the_ecb_history_the_pinned_package_ships():
    spec = importlib.util.spec_from_file_location("exchange_rates_seed", SEED_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    with EXCHANGE_RATES.open(newline="") as lines:
        shipped = [tuple(row) for row in csv.reader(lines)]
    assert shipped[0] == script.HEADER
    assert shipped[1:] == script.ecb_rows(date(2023, 1, 1))
    assert {row[1] for row in shipped[1:]} >= {"USD", "GBP", "INR", "BRL", "JPY", "CAD", "AUD", "CHF", "CNY"}
    # 2024-03-08 is a Friday: the ECB's rows jump to Monday
    assert ("2024-03-08", "USD", "1.0932") in shipped and not any(row[0] == "2024-03-09" for row in shipped)


def test_a_reporting_currency_must_be_a_code():
    assert load_settings(reporting_currency=" eur ").reporting_currency == "EUR"
    with pytest.raises(pydantic.ValidationError, match="ANALYTICS_REPORTING_CURRENCY='dollars' is not an ISO 4217"):
        load_settings(reporting_currency="dollars")


def test_a_missing_rates_file_is_named(tmp_path: Path):
    settings = load_settings(data_dir=tmp_path, exchange_rates_path=str(tmp_path / "rates.xlsx"))
    with pytest.raises(ValueError, match="ANALYTICS_EXCHANGE_RATES_PATH=.*rates.xlsx.* is not a .csv or .parquet"):
        build_args(settings)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_rates_file_overrides_and_extends_the_shipped_rates(tmp_path: Path, kind: str):
    """The file's USD rate of Friday 2024-03-08 replaces the ECB's 1.0932 and its XTS (a test currency code)
    is new: on Saturday the 9th, XTS converts at Friday's 2.0 / 4.0 USD and JPY at 2.0 / 160.99 (the ECB's
    JPY of the 8th), while Monday the 11th keeps the ECB's own USD rate."""
    rows = {"rate_date": [date(2024, 3, 8), date(2024, 3, 8)], "currency": ["usd", "XTS"],
            "units_per_eur": [2.0, 4.0]}
    path = tmp_path / f"rates.{kind}"
    if kind == "csv":
        path.write_text("rate_date,currency,units_per_eur\n2024-03-08,usd,2.0\n2024-03-08,XTS,4.0\n")
    else:
        pq.write_table(pa.table(rows), path)
    settings = load_settings(data_dir=tmp_path, warehouse_path=tmp_path / "wh" / "analytics.duckdb",
                             exchange_rates_path=str(path))
    settings.build_warehouse.parent.mkdir(parents=True)
    run_dbt([*build_args(settings, full_refresh=True), "--select", "+int_exchange_rates_daily"], settings)
    rates = query(settings.build_warehouse, """
        select conversion_date, currency, rate_date, to_reporting_rate from intermediate.int_exchange_rates_daily
        where conversion_date in ('2024-03-09', '2024-03-11') and currency in ('XTS', 'JPY', 'EUR')
        order by all""")
    assert rates == [
        (date(2024, 3, 9), "EUR", date(2024, 3, 8), 2.0),
        (date(2024, 3, 9), "JPY", date(2024, 3, 8), 2.0 / 160.99),
        (date(2024, 3, 9), "XTS", date(2024, 3, 8), 0.5),
        (date(2024, 3, 11), "EUR", date(2024, 3, 11), 1.0926),
        (date(2024, 3, 11), "JPY", date(2024, 3, 11), 1.0926 / 160.43),
        (date(2024, 3, 11), "XTS", date(2024, 3, 8), 1.0926 / 4.0),
    ]
    [(sources,)] = query(settings.build_warehouse, """
        select list(distinct rate_source order by rate_source) from staging.stg_exchange_rates
        where rate_date = '2024-03-08'""")
    assert sources == ["ecb", "euro", "file"]


@pytest.mark.slow
def test_a_changed_reporting_currency_needs_a_full_refresh(tmp_path: Path, golden_lake: Path,
                                                           golden_warehouse: Path, golden_data_dir: Path):
    """The served warehouse is in USD; a daily run in EUR fails its test and publishes nothing; a full refresh
    converts every order to euros: each day's revenue equals the truth's orders converted in Python."""
    settings = warehouse_settings(tmp_path, golden_lake, "served").model_copy(update={"reporting_currency": "EUR"})
    serve_a_copy(golden_warehouse, settings)
    before = settings.served_warehouse.read_bytes()
    with pytest.raises(RuntimeError, match="dbt build"):
        build_and_publish(settings, "2024-03-21", "2024-03-21")
    assert settings.served_warehouse.read_bytes() == before

    build_and_publish(settings, full_refresh=True)
    rates = read_exchange_rates()
    expected = defaultdict(Decimal)
    for order in pq.read_table(golden_data_dir / "truth" / "orders.parquet").to_pylist():
        if not order["is_bot"]:
            _, _, euros = convert(float(order["revenue"]), order["currency"], order["order_date"], rates, into="EUR")
            expected[order["order_date"]] += euros
    assert dict(query(settings.served_warehouse, """
        select event_date, sum(reporting_revenue) from marts.fct_events
        where event_name = 'Order Completed' and not is_bot group by all""")) == expected
    assert query(settings.served_warehouse, "select distinct reporting_currency from marts.fct_events") == [("EUR",)]


def test_the_truths_conversion_takes_fridays_rate_on_a_weekend():
    """The generator's own conversion (collector/generator/truth.py), by hand: 100 JPY on Saturday 2024-03-09 at
    Friday's ECB rates is 100 × 1.0932 / 160.99 = 0.679… USD, 0.68; no rate, no conversion."""
    rates = read_exchange_rates()
    assert convert(100.0, "JPY", date(2024, 3, 9), rates) == (date(2024, 3, 8), 1.0932 / 160.99, Decimal("0.68"))
    assert convert(10.0, "EUR", date(2024, 3, 10), rates, into="USD")[2] == Decimal("10.93")
    assert convert(10.0, "XTS", date(2024, 3, 9), rates) is None
    assert convert(10.0, "USD", date(2022, 12, 30), rates) is None  # before the seed's first day
