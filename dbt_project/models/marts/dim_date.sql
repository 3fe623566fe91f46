-- One row per day from the first event day to the last (plus a year ahead for forecasts).
-- "Now" is the latest arrival day loaded, not the wall clock: a rebuild of the same data marks the same
-- days provisional (reproducible in tests and backfills), and a pipeline that stalls keeps its last days
-- provisional instead of declaring them complete.
with bounds as (
    select min(event_date) as first_day, max(event_date) as last_day, max(received_date) as latest_arrival_day
    from {{ ref('fct_events') }}
)

select
    day::date                               as date_day,
    extract('isodow' from day)::integer     as iso_day_of_week,
    dayname(day)                            as day_name,
    extract('isodow' from day) in (6, 7)    as is_weekend,
    date_trunc('week', day)::date           as week_start,
    date_trunc('month', day)::date          as month_start,
    date_trunc('quarter', day)::date        as quarter_start,
    extract('year' from day)::integer       as year,
    day::date > bounds.latest_arrival_day - {{ var('provisional_days') | int }} as is_provisional
from bounds, range(bounds.first_day, bounds.last_day + interval 366 day, interval 1 day) as days(day)
