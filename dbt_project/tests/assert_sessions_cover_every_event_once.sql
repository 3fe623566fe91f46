-- Sessions partition the events: together they hold every event of fct_events exactly once, however the
-- incremental runs split the work. A difference means a session was dropped, kept twice, or left behind
-- under an id that now belongs to another user.
with counted as (
    select
        (select count(*) from {{ ref('fct_events') }})      as events,
        (select sum(events) from {{ ref('dim_sessions') }}) as events_in_sessions
)

select *
from counted
where events is distinct from coalesce(events_in_sessions, 0)
