-- Bronze events of this run's arrival days, renamed and typed, one row per event id. Bronze already keeps
-- one row per messageId within an arrival day and against the days before it; a messageId can still sit
-- in two arrival-day folders when days were compacted out of order, so keep its first arrival here
-- (fct_events keeps a copy another day's run loaded when it arrived earlier, and replaces it otherwise). Only the repeated ids are ranked: ranking every
-- event would sort the whole of bronze, wide rows and all, on every read of this view.
with bronze as not materialized (  -- read three times, by column: never copied whole
    select * from {{ source('lake', 'bronze_events') }}
    where {{ in_arrival_days('received_date') }}
),

later_arrivals as (
    -- (message_id, received_date) is unique in bronze, so it names the copy to drop
    select message_id, received_date
    from bronze
    where message_id in (select message_id from bronze group by message_id having count(*) > 1)
    qualify row_number() over (partition by message_id order by received_at, received_date) > 1
)

select
    message_id                         as event_id,
    type                               as event_type,
    event_name,
    event_original                     as event_name_original,
    page_name,
    user_id,
    anonymous_id,
    group_id,
    previous_id,
    source_id,
    event_time,
    event_date,
    received_at,
    received_date,
    clock_skew_ms,
    is_clamped,
    is_offline_queued,
    is_late,
    session_id                         as client_session_id,
    properties,
    traits,
    revenue::decimal(18, 2)            as revenue,
    upper(currency)                    as currency,
    page_url,
    page_host,
    page_path,
    page_title,
    page_referrer,
    referrer_host,
    referrer_class,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    browser,
    browser_version,
    os,
    os_version,
    device_type,
    coalesce(is_bot, false)            as is_bot,
    coalesce(country, 'unknown')       as country_code,
    locale,
    timezone,
    library_name,
    library_version
from bronze
anti join later_arrivals using (message_id, received_date)
