-- One row per session (see int_sessions for the rules), with what people slice sessions by.
select
    session_id,
    user_key,
    hash(user_key)                                                 as user_hash,
    is_identified,
    session_start,
    session_end,
    session_start::date                                            as session_date,
    date_diff('millisecond', session_start, session_end) / 1000.0 as duration_seconds,
    events,
    page_views,
    purchases,
    revenue,
    unconverted_purchases,
    events = 1 and page_views = 1                                  as is_bounce,
    landing_page,
    exit_page,
    referrer_class,
    referrer_host,
    utm_source,
    utm_medium,
    utm_campaign,
    md5(concat_ws('|', device_type, browser, os))                 as device_key,
    device_type,
    browser,
    os,
    country_code,
    is_bot
from {{ ref('int_sessions') }}
-- clustered by start: a query over a range of days reads only the row groups of those days
order by session_start, session_id
