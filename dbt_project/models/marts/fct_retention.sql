-- Cohort retention (bots excluded). A cohort is the users first seen on a day (`cohort_grain` = day) or in
-- an ISO week (week); period N counts the cohort's users active N days (weeks) after it, for every N up to
-- the last day with data (no cap). Revenue retention: the cohort's revenue in period N over period 0's.
-- A period is complete once its last day is not provisional (it can no longer gain late events); the
-- retention metrics average complete periods only, so a young cohort does not look like it churned.
{%- set grains = {'day': "activity_date", 'week': "date_trunc('week', activity_date)::date"} %}
with activity as (
    select user_key, activity_date, first_seen_date, revenue
    from {{ ref('fct_user_activity_daily') }}
    where is_active
),

last_day as (
    select max(activity_date) as last_activity_date, {{ first_provisional_day() }} as first_provisional_date
    from activity
),

{% for grain, truncate in grains.items() %}
{{ grain }}_periods as (
    select
        '{{ grain }}'                                                             as cohort_grain,
        {{ truncate | replace('activity_date', 'first_seen_date') }}              as cohort_start,
        date_diff('{{ grain }}', {{ truncate | replace('activity_date', 'first_seen_date') }},
                  {{ truncate }})                                                 as period_number,
        user_key,
        revenue
    from activity
),
{% endfor %}

periods as (
    {% for grain in grains %}
    select * from {{ grain }}_periods {% if not loop.last %} union all {% endif %}
    {% endfor %}
),

cohorts as (
    select cohort_grain, cohort_start, count(distinct user_key) as cohort_users
    from periods
    group by all
),

retained as (
    select cohort_grain, cohort_start, period_number, count(distinct user_key) as retained_users,
           sum(revenue) as revenue
    from periods
    group by all
),

grid as (
    select cohorts.*, period_number, last_day.first_provisional_date
    from cohorts, last_day,
         range(0, date_diff(cohorts.cohort_grain, cohorts.cohort_start, last_day.last_activity_date) + 1)
             as numbers(period_number)
)

select
    grid.cohort_grain,
    grid.cohort_start,
    grid.period_number,
    case grid.cohort_grain when 'day' then grid.cohort_start + grid.period_number::integer
                           else grid.cohort_start + 7 * grid.period_number::integer end   as period_start,
    case grid.cohort_grain when 'day' then grid.cohort_start + grid.period_number::integer
                           else grid.cohort_start + 7 * grid.period_number::integer + 6 end
        < grid.first_provisional_date                                                     as is_complete,
    grid.cohort_users,
    coalesce(retained.retained_users, 0)                                                  as retained_users,
    coalesce(retained.retained_users, 0) / grid.cohort_users                              as retention_rate,
    coalesce(retained.revenue, 0)                                                         as revenue,
    coalesce(retained.revenue, 0) / nullif(first_period.revenue, 0)                       as revenue_retention_rate
from grid
left join retained using (cohort_grain, cohort_start, period_number)
left join retained as first_period
    on first_period.cohort_grain = grid.cohort_grain
   and first_period.cohort_start = grid.cohort_start
   and first_period.period_number = 0
