-- Daily exchange rates as the units of each currency one euro buys (the ECB's convention): the shipped
-- seed `exchange_rates` (ECB reference rates), overridden by the user's file (var `exchange_rates_path`,
-- ANALYTICS_EXCHANGE_RATES_PATH) wherever it has a row of the same day and currency, extended by its other
-- rows, and the euro itself at 1 on every day with a rate, so that cross rates go through the euro.
{%- set path = var('exchange_rates_path') %}
with shipped as (
    select rate_date::date as rate_date, upper(trim(currency)) as currency, units_per_eur::double as units_per_eur,
           'ecb' as rate_source
    from {{ ref('exchange_rates') }}
),

supplied as (
    {%- if path %}
    select rate_date::date as rate_date, upper(trim(currency)) as currency, units_per_eur::double as units_per_eur,
           'file' as rate_source
    from {{ 'read_parquet' if path.lower().endswith('.parquet') else 'read_csv' }}('{{ path | replace("'", "''") }}')
    {%- else %}
    select * from shipped where false
    {%- endif %}
),

combined as (
    select * from supplied
    union all
    select * from shipped anti join supplied using (rate_date, currency)
)

select rate_date, currency, units_per_eur, rate_source from combined where currency <> 'EUR'
union all
select distinct rate_date, 'EUR', 1.0, 'euro' from combined
