{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{% if is_incremental() %}delete from {{ this }}
                    where event_date in ({{ recounted_event_days() }}){% endif %}") }}
-- depends_on: {{ ref('int_events_replaced') }}
-- Events, orders and order revenue (converted, and as sent) per event day and combination of the event
-- dimensions the semantic layer slices by: what the event metrics read instead of every event (a day's events
-- collapse to a few thousand combinations, and that number hardly grows with traffic).
--
-- Incremental: each run counts whole event days again (the pre-hook deletes them first): every day its
-- arrival days' events fall on (late events included, however old their day) and every day of the rows
-- it replaced (a day may have lost every event), from all of that day's events in fct_events.
with events as (
    select * from {{ ref('fct_events') }}
    {% if is_incremental() %}
    where event_date in ({{ recounted_event_days() }})
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
