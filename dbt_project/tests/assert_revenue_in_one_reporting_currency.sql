-- fct_events keeps the converted amount of the run that loaded each event: a run with another reporting
-- currency than the loaded events' would add two currencies in every revenue sum. Fails (nothing is
-- published) until a full refresh converts the whole history again.
select
    reporting_currency,
    count(*) as events,
    'ANALYTICS_REPORTING_CURRENCY is ' || {{ reporting_currency() }} || ' now: rebuild with '
    || '`python -m warehouse build --full-refresh` (or a full-refresh run in Dagster)' as fix
from {{ ref('fct_events') }}
where reporting_currency <> {{ reporting_currency() }}
group by all
