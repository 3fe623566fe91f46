{%- set recency_days = var('recency_days') -%}
-- User × day recency (bots excluded): for every day on which a user was active or had been active in the
-- `recency_days` days before it (up to the last day with data), the days since their last active day. A
-- user is N-day active on a day when that is below N, so the rolling active users of the semantic layer are
-- sums over this table, one row per user and day, instead of distinct counts over a join of every day with
-- every activity row of its window (which grows with days × window × daily users).
with activity as (
    select * from {{ ref('fct_user_activity_daily') }}
),

active_days as (
    select
        user_key,
        user_hash,
        activity_date,
        first_seen_date,
        is_identified,
        lead(activity_date) over (partition by user_key order by activity_date) as next_active_date
    from activity
    where is_active
),

last_day as (
    select max(activity_date) as last_activity_date from activity
),

day_offsets as (
    select range::integer as days_since_active from range({{ recency_days }})
),

covered_days as (
    -- an active day covers itself and the days after it until the next active day, the end of the
    -- longest window or the last day with data, whichever comes first: one row per user and day
    select
        active_days.user_key,
        active_days.user_hash,
        active_days.activity_date + day_offsets.days_since_active     as as_of_date,
        active_days.activity_date                                     as last_active_date,
        day_offsets.days_since_active,
        active_days.first_seen_date,
        active_days.is_identified
    from active_days
    cross join last_day
    join day_offsets
      on active_days.activity_date + day_offsets.days_since_active <= last_day.last_activity_date
     and (active_days.next_active_date is null
          or active_days.activity_date + day_offsets.days_since_active < active_days.next_active_date)
)

select
    covered_days.user_key,
    covered_days.user_hash,
    covered_days.as_of_date,
    covered_days.last_active_date,
    covered_days.days_since_active,
    covered_days.first_seen_date,
    activity.status,
    covered_days.is_identified
from covered_days
left join activity
  on activity.user_key = covered_days.user_key
 and activity.activity_date = covered_days.as_of_date
-- clustered by day: a query over a range of days reads only the row groups of those days
order by covered_days.as_of_date, covered_days.user_key
