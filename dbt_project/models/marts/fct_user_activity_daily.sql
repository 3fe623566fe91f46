-- User × day growth accounting (bots excluded): a row for every day a user was active, marked `new` (their
-- first day), `returning` (also active the day before) or `resurrected` (back after a gap), and a
-- `churned` row on the first inactive day after a day of activity (up to the last day with data), unless
-- that day is provisional: late events may still show the user came back.
with activity as (
    select
        user_key,
        event_date                                                                 as activity_date,
        count(*)                                                                   as events,
        coalesce(sum(reporting_revenue) filter (where event_name = 'Order Completed'), 0)   as revenue,
        bool_or(is_identified)                                                     as is_identified
    from {{ ref('int_events_stitched') }}
    where not is_bot
    group by all
),

flagged as (
    select *,
        min(activity_date) over (partition by user_key)                           as first_seen_date,
        lag(activity_date) over (partition by user_key order by activity_date)    as previous_active_date,
        lead(activity_date) over (partition by user_key order by activity_date)   as next_active_date
    from activity
),

last_day as (
    select max(activity_date) as last_activity_date, {{ first_provisional_day() }} as first_provisional_date
    from activity
)

select
    user_key,
    hash(user_key)                       as user_hash,
    activity_date,
    first_seen_date,
    case when activity_date = first_seen_date then 'new'
         when previous_active_date = activity_date - 1 then 'returning'
         else 'resurrected' end          as status,
    true                                 as is_active,
    events,
    revenue,
    is_identified,
    activity_date >= first_provisional_date   as is_provisional
from flagged, last_day

union all

select
    user_key,
    hash(user_key),
    activity_date + 1,
    first_seen_date,
    'churned',
    false,
    0,
    0,
    is_identified,
    false
from flagged, last_day
where (next_active_date is null or next_active_date > activity_date + 1)
  and activity_date + 1 <= last_activity_date
  and activity_date + 1 < first_provisional_date

-- clustered by day: a query over a range of days reads only the row groups of those days
order by activity_date, user_key
