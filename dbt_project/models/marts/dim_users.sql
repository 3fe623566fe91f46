-- Users as their identify calls describe them, slowly changing (type 2): a new version each time the
-- traits people slice by change; `valid_to` is the next version's `valid_from`, null for the current one.
with identifies as (
    -- traits are partial updates (Segment): a trait an identify call leaves out keeps its last value.
    -- Calls at the same event time apply in arrival order (then event id), and only the state after the
    -- last of them is kept: one version per user and time, never a duplicate key that fails the build.
    select
        user_key,
        event_time,
        last_value(traits ->> '$.email' ignore nulls) over history as email,
        last_value(traits ->> '$.name' ignore nulls) over history  as name,
        last_value(traits ->> '$.plan' ignore nulls) over history  as plan,
        group_id
    from {{ ref('int_events_stitched') }}
    where event_type = 'identify' and user_key is not null and not is_bot
    window history as (partition by user_key order by event_time, received_at, event_id
                       rows between unbounded preceding and current row)
    qualify row_number() over (partition by user_key, event_time order by received_at desc, event_id desc) = 1
),

changes as (
    select *,
        row(email, name, plan) is distinct from
            lag(row(email, name, plan)) over (partition by user_key order by event_time) as is_change
    from identifies
),

versions as (
    select user_key, event_time as valid_from, email, name, plan
    from changes
    where is_change
)

select
    -- to the microsecond, as event times are stored: two versions a fraction of a millisecond apart (SDKs
    -- such as analytics-python send microseconds) must not share a key
    md5(user_key || '|' || strftime(valid_from, '%Y-%m-%dT%H:%M:%S.%f'))      as user_version_key,
    user_key,
    hash(user_key)                                                             as user_hash,
    email,
    name,
    coalesce(plan, 'unknown')                                                  as plan,
    valid_from,
    lead(valid_from) over (partition by user_key order by valid_from)          as valid_to,
    lead(valid_from) over (partition by user_key order by valid_from) is null  as is_current
from versions
