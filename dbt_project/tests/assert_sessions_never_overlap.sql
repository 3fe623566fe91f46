-- One user's sessions never overlap: each starts after the previous one ended (with the session rule, at
-- least the inactivity gap later, or right after a 24-hour cut). An overlap means an incremental run left a
-- stale session behind or two runs disagreed. Returns both sessions of every overlapping pair.
with ordered as (
    select
        user_key,
        session_id,
        session_start,
        session_end,
        lag(session_id) over by_user  as previous_session_id,
        lag(session_end) over by_user as previous_session_end
    from {{ ref('dim_sessions') }}
    window by_user as (partition by user_key order by session_start, session_end)
)

select user_key, previous_session_id, previous_session_end, session_id, session_start
from ordered
where session_start <= previous_session_end
