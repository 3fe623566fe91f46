{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='event_date',
          on_schema_change='fail') }}
-- Events, orders and order revenue (converted, and as sent) per event day and combination of the event
-- dimensions the semantic layer slices by: what the event metrics read instead of every event (a day's events
-- collapse to a few thousand combinations, and that number hardly grows with traffic).
--
-- Incremental: each run recomputes whole event days, every day its arrival days appended events to
-- (late events included, however old their day), from all of that day's events in fct_events. fct_events
-- only ever appends, so a recomputed day equals the full refresh's.
with events as (
    select * from {{ ref('fct_events') }}
    {% if is_incremental() %}
    where event_date in (
        select distinct event_date from {{ ref('fct_events') }} where {{ in_arrival_days('received_date') }}
    )
    {% endif %}
)

select
    event_date,
    event_type,
    event_name,
    device_type,
    browser,
    os,
    country_code,
    referrer_class,
    utm_source,
    utm_campaign,
    currency,
    is_bot,
    count(*)                                                                      as events,
    count(*) filter (where event_name = 'Order Completed')                       as orders,
    coalesce(sum(reporting_revenue) filter (where event_name = 'Order Completed'), 0)   as order_revenue,
    -- in the group's own currency (`currency` is a dimension): meaningful summed within one currency only
    coalesce(sum(revenue) filter (where event_name = 'Order Completed'), 0)             as original_order_revenue,
    count(*) filter (where event_name = 'Order Completed' and is_currency_unknown)     as unconverted_orders
from events
group by all
-- clustered by day: a query over a range of days reads only the row groups of those days
order by event_date
