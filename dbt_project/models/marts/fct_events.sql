{{ config(materialized='incremental', incremental_strategy='append', on_schema_change='fail',
          pre_hook="{% if is_incremental() %}delete from {{ this }}
                    where event_id in (select event_id from {{ ref('int_events_replaced') }}
                                       where invocation_id = '{{ invocation_id }}'){% endif %}") }}
-- depends_on: {{ ref('int_events_replaced') }}
-- One row per event. Each run replaces its arrival days' rows (the pre-hook deletes int_events_replaced)
-- with their events as bronze now holds them, so a day compacted again reaches the marts; an event that
-- arrived twice is kept once (first arrival wins: a copy still loaded from another day arrived earlier).
select
    event_id,
    event_type,
    event_name,
    event_name_original,
    event_time,
    event_date,
    received_at,
    received_date,
    user_id,
    anonymous_id,
    group_id,
    previous_id,
    source_id,
    client_session_id,
    page_name,
    page_url,
    page_host,
    page_path,
    page_title,
    referrer_host,
    referrer_class,
    utm_source,
    utm_medium,
    utm_campaign,
    utm_term,
    utm_content,
    revenue,
    event.currency,
    -- converted at its event day's rate (int_exchange_rates_daily); a currency without one stays unconverted
    {{ reporting_currency() }}                                                as reporting_currency,
    rate.to_reporting_rate                                                    as exchange_rate,
    rate.rate_date                                                            as exchange_rate_date,
    round(revenue::double * rate.to_reporting_rate, 2)::decimal(18, 2)        as reporting_revenue,
    revenue is not null and rate.to_reporting_rate is null                    as is_currency_unknown,
    properties,
    traits,
    md5(concat_ws('|', device_type, browser, os)) as device_key,
    device_type,
    browser,
    browser_version,
    os,
    os_version,
    country_code,
    locale,
    timezone,
    library_name,
    library_version,
    is_bot,
    is_late,
    is_offline_queued,
    is_clamped,
    clock_skew_ms
from {{ ref('stg_events') }} as event
-- an event without a currency is in US dollars (the Segment spec's default)
left join {{ ref('int_exchange_rates_daily') }} as rate
    on revenue is not null and rate.currency = coalesce(event.currency, 'USD') and rate.conversion_date = event_date
{% if is_incremental() %}
where event_id not in (select event_id from {{ this }})
{% endif %}
