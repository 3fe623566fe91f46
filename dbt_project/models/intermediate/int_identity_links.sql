{{ config(materialized='incremental', incremental_strategy='delete+insert', unique_key='linked_id') }}
-- Which user each anonymous id (and each aliased user id) belongs to. An id is linked by an `identify`
-- or any other call that carries both a userId and the anonymousId, and by an `alias` (previousId →
-- userId). Conflict rule: an id belongs to the user of its *earliest* link by event time (ties: the lower
-- event id), so a shared device stays with its first user and a later run never moves history around.
with candidate_links as (
    select anonymous_id as linked_id, user_id, event_time as linked_at, event_id, event_type as linked_by
    from {{ ref('stg_events') }}
    where anonymous_id is not null and user_id is not null and anonymous_id <> user_id

    union all

    select previous_id, user_id, event_time, event_id, 'alias'
    from {{ ref('stg_events') }}
    where event_type = 'alias' and previous_id is not null and user_id is not null and previous_id <> user_id

    {% if is_incremental() %}
    union all
    -- the links already known for these ids compete with the new ones
    select linked_id, user_id, linked_at, event_id, linked_by
    from {{ this }}
    where linked_id in (select anonymous_id from {{ ref('stg_events') }} where user_id is not null
                        union all
                        select previous_id from {{ ref('stg_events') }} where event_type = 'alias')
    {% endif %}
),

winners as (
    -- each id's earliest link, as an aggregate: ranking would sort every identified event
    select
        linked_id,
        arg_min(user_id, (linked_at, event_id))   as user_id,
        min(linked_at)                            as linked_at,
        arg_min(event_id, (linked_at, event_id))  as event_id,
        arg_min(linked_by, (linked_at, event_id)) as linked_by
    from candidate_links
    group by linked_id
)

select
    winners.*,
    -- the user a late, earlier link took this id from (int_sessions rebuilds both users' sessions)
    {% if is_incremental() %}
    case when known.user_id <> winners.user_id then known.user_id end as moved_from_user_id
    {% else %}
    null::varchar as moved_from_user_id
    {% endif %}
from winners
{% if is_incremental() %}
left join {{ this }} as known on known.linked_id = winners.linked_id
{% endif %}
