-- The reporting currency has exchange rates: without any, no order could be converted.
select
    {{ reporting_currency() }} as reporting_currency,
    'set ANALYTICS_REPORTING_CURRENCY to a currency of dbt_project/seeds/exchange_rates.csv, '
    || 'or add its rates with ANALYTICS_EXCHANGE_RATES_PATH' as fix
where not exists (
    select 1 from {{ ref('stg_exchange_rates') }} where currency = {{ reporting_currency() }}
)
