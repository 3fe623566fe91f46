-- The rate that converts each currency into the reporting currency on every calendar day, from the currency's
-- first rate to the day after the later of its last rate and the lake's latest arrival day (no event is more
-- than 23 h ahead of its arrival; the data's "now", not the wall clock, so that a rebuild of the same lake
-- gives the same rows on any day). A day takes the latest rate published on or before it: the ECB publishes
-- none on weekends and TARGET holidays, so a Saturday takes Friday's. The cross rate goes through the euro,
-- units_per_eur(reporting) / units_per_eur(currency), each at its own latest rate on or before the day. A
-- currency has no row before its first rate, nor before the reporting currency's: such orders are left
-- unconverted downstream (is_currency_unknown), never summed at a guessed rate.
with rates as (
    select rate_date, currency, units_per_eur from {{ ref('stg_exchange_rates') }}
),

last_day as (
    select greatest(max(rate_date), {{ lake_latest_arrival_day() }}) + 1 as last_conversion_date from rates
),

calendar as (
    select currency,
           unnest(generate_series(min(rate_date), any_value(last_conversion_date), interval 1 day))::date
               as conversion_date
    from rates, last_day
    group by currency
),

in_force as (
    -- the latest rate on or before each day: the day's own, else the last one carried forward (a window over
    -- a few tens of thousands of days; DuckDB's ASOF join took seconds here)
    select
        calendar.conversion_date,
        calendar.currency,
        last_value(rate.rate_date ignore nulls) over carried      as rate_date,
        last_value(rate.units_per_eur ignore nulls) over carried  as units_per_eur
    from calendar
    left join rates as rate
        on rate.currency = calendar.currency and rate.rate_date = calendar.conversion_date
    window carried as (partition by calendar.currency order by calendar.conversion_date rows unbounded preceding)
),

reporting as (
    select conversion_date, units_per_eur
    from in_force
    where currency = {{ reporting_currency() }}
)

select
    in_force.conversion_date,
    in_force.currency,
    in_force.rate_date,
    case when in_force.currency = {{ reporting_currency() }} then 1.0
         else reporting.units_per_eur / in_force.units_per_eur end as to_reporting_rate
from in_force
inner join reporting using (conversion_date)
