-- Spark's gold rollup, typed: one row per event day, event name, country and device type.
select
    event_date,
    event_name,
    country                 as country_code,
    device_type,
    events,
    unique_users            as unique_identities,
    revenue::decimal(18, 2) as revenue
from {{ source('lake', 'daily_event_rollup') }}
