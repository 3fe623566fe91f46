{{ config(materialized='incremental', incremental_strategy='recompute_sessions', on_schema_change='fail') }}
-- depends_on: {{ ref('stg_events') }}, {{ ref('int_identities') }}, {{ ref('int_identity_links') }}
-- depends_on: {{ ref('int_events_replaced') }}, {{ ref('fct_events') }}
{%- set gap = "interval " ~ var('session_inactivity_minutes') ~ " minutes" -%}
{%- set max_session_ms = var('session_max_hours') * 3600000 -%}
-- Sessions: a user's events (all devices, after stitching) with less than `session_inactivity_minutes`
-- between consecutive ones form an activity run; a run longer than `session_max_hours` is cut into slices
-- of that length from its first event. A session crossing midnight stays one session.
--
-- Incremental runs recompute only the users whose events arrived in this run or were replaced by it (the
-- users the replaced rows were stitched to: a re-compacted day may have hashed their ids or dropped their
-- events), from the start of the earliest activity run a new or replaced event could join (a run ending
-- less than the inactivity gap before it), so a session is never split between runs and the result equals
-- a full refresh. Users whose anonymous ids were linked since are recomputed entirely (their earlier
-- sessions were filed under the anonymous id), and so are both users of an id that an earlier link moved
-- from one to the other, and an id that lost every link with the user it belonged to. See the
-- `recompute_sessions` strategy in macros/.
-- `events` is read twice by an incremental run: not materialized, or DuckDB would copy every stitched event whole
with events as not materialized (
    select * from {{ ref('int_events_stitched') }}
),

{% if is_incremental() %}
touched as (
    select user_key, min(event_time) as first_new_event_at
    from (
        select user_key, event_time from events where event_id in (select event_id from {{ ref('stg_events') }})
        union all
        -- the users the replaced rows belonged to lose or change those events
        select user_key, event_time from {{ ref('int_events_replaced') }}
    )
    group by user_key
),

merged as (
    -- ids that sessions are filed under but that now resolve to another user
    select identity.user_key, list(distinct identity.linked_id order by identity.linked_id) as merged_keys
    from {{ ref('int_identities') }} as identity
    where identity.linked_id in (select distinct user_key from {{ this }})
    group by identity.user_key
),

unlinked as (
    -- ids that lost every link in this run (the events that linked them were replaced): their events leave
    -- the user the replaced rows were stitched to and go back to the id itself
    select lost.linked_id, replaced.user_key
    from {{ ref('int_events_replaced') }} as replaced
    join ({{ identity_links(ref('int_events_replaced')) }}) as lost on lost.event_id = replaced.event_id
    where lost.linked_id not in (select linked_id from {{ ref('int_identity_links') }})
),

moved as (
    -- the link derived again for an id names another user (a late, earlier link; a replaced row that
    -- linked it), or the id lost every link: both users' sessions are rebuilt whole (the id's events leave
    -- the first and join the second)
    select identity.user_key
    from {{ ref('int_identity_links') }} as link
    join {{ ref('int_identities') }} as identity on identity.linked_id = link.linked_id
    where link.moved_from_user_id is not null and link.linked_id in ({{ relinked_ids() }})
    union
    select coalesce(previous_owner.user_key, link.moved_from_user_id)
    from {{ ref('int_identity_links') }} as link
    left join {{ ref('int_identities') }} as previous_owner on previous_owner.linked_id = link.moved_from_user_id
    where link.moved_from_user_id is not null and link.linked_id in ({{ relinked_ids() }})
    union
    select user_key from unlinked
    union
    select linked_id from unlinked
),

rebuilt as (
    select user_key, merged_keys from merged
    union all
    select user_key, []::varchar[] from moved where user_key not in (select user_key from merged)
),

open_runs as (
    select touched.user_key, touched.first_new_event_at, min(session.activity_started_at) as open_run_started_at
    from touched
    left join {{ this }} as session
        on session.user_key = touched.user_key
       and session.session_end > touched.first_new_event_at - {{ gap }}
    group by all
),

recompute as (
    select
        coalesce(open_runs.user_key, rebuilt.user_key) as user_key,
        case when rebuilt.user_key is not null then '-infinity'::timestamp
             else least(open_runs.first_new_event_at, open_runs.open_run_started_at) end as recomputed_from,
        coalesce(rebuilt.merged_keys, []::varchar[]) as merged_keys
    from open_runs
    full join rebuilt on rebuilt.user_key = open_runs.user_key
),

scoped as (
    select events.*, recompute.recomputed_from, recompute.merged_keys
    from events
    join recompute on recompute.user_key = events.user_key and events.event_time >= recompute.recomputed_from
),
{% else %}
scoped as (
    select *, null::timestamp as recomputed_from, []::varchar[] as merged_keys
    from events
),
{% endif %}

runs as (
    -- the events in time order with the number and the start of their activity run, in one window (event times
    -- never decrease along it, so the latest run start is the start of the current run)
    select *,
        sum(is_run_start::int) over user_events                                   as run_number,
        max(case when is_run_start then event_time end) over user_events          as activity_started_at,
        row_number() over user_events                                             as event_order
    from (
        select *,
            coalesce(event_time - lag(event_time) over (partition by user_key order by event_time, event_id)
                     >= {{ gap }}, true)                                           as is_run_start
        from scoped
    )
    window user_events as (partition by user_key order by event_time, event_id rows unbounded preceding)
),

sliced as (
    select *, date_diff('millisecond', activity_started_at, event_time) // {{ max_session_ms }} as slice
    from runs
),

sessions as (
    select
        user_key,
        min(event_time)                                                           as session_start,
        max(event_time)                                                           as session_end,
        any_value(activity_started_at)                                            as activity_started_at,
        count(*)                                                                  as events,
        count(*) filter (where event_type in ('page', 'screen'))                  as page_views,
        count(*) filter (where event_name = 'Order Completed')                    as purchases,
        coalesce(sum(reporting_revenue) filter (where event_name = 'Order Completed'), 0) as revenue,
        count(*) filter (where event_name = 'Order Completed' and is_currency_unknown) as unconverted_purchases,
        -- the first and last event's values (nulls included) by their place in the window's order: plain
        -- aggregates, where first(x order by …) would sort each session's events once per column
        arg_min_null(coalesce(page_path, page_name), event_order)
            filter (where event_type in ('page', 'screen'))                       as landing_page,
        arg_max_null(coalesce(page_path, page_name), event_order)
            filter (where event_type in ('page', 'screen'))                       as exit_page,
        arg_min_null({'referrer_class': referrer_class, 'referrer_host': referrer_host, 'utm_source': utm_source,
                      'utm_medium': utm_medium, 'utm_campaign': utm_campaign, 'device_type': device_type,
                      'browser': browser, 'os': os, 'country_code': country_code}, event_order) as first_event,
        bool_or(is_identified)                                                    as is_identified,
        bool_or(is_bot)                                                           as is_bot,
        any_value(recomputed_from)                                                as recomputed_from,
        any_value(merged_keys)                                                    as merged_keys
    from sliced
    group by user_key, run_number, slice
)

select
    md5(user_key || '|' || strftime(session_start, '%Y-%m-%dT%H:%M:%S.%g')) as session_id,
    user_key,
    session_start,
    session_end,
    activity_started_at,
    events,
    page_views,
    purchases,
    revenue,
    unconverted_purchases,
    landing_page,
    exit_page,
    first_event.referrer_class,
    first_event.referrer_host,
    first_event.utm_source,
    first_event.utm_medium,
    first_event.utm_campaign,
    first_event.device_type,
    first_event.browser,
    first_event.os,
    first_event.country_code,
    is_identified,
    is_bot,
    recomputed_from,
    merged_keys
from sessions
{% if is_incremental() %}
union all by name
-- a recomputed user left with no event carries only the scope the strategy deletes
select user_key, recomputed_from, merged_keys
from recompute
where user_key not in (select user_key from sessions)
{% endif %}
