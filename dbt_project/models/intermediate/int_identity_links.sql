{{ config(materialized='incremental', incremental_strategy='relink') }}
-- depends_on: {{ ref('int_events_replaced') }}
-- Which user each anonymous id (and each aliased user id) belongs to. An id is linked by an `identify`
-- or any other call that carries both a userId and the anonymousId, and by an `alias` (previousId →
-- userId). Conflict rule: an id belongs to the user of its *earliest* link by event time (ties: the lower
-- event id), so a shared device stays with its first user and a later run never moves history around.
--
-- Incremental runs derive again, from every event of fct_events, the link of each id that the run's new
-- rows or the rows it replaced link (`relinked_ids`): the earliest link wins whatever order the days come
-- in, and a link whose event was replaced is derived from what is loaded now (or dropped: strategy
-- `relink` in macros/).
with candidate_links as (
    {% if is_incremental() %}
    select * from ({{ identity_links(ref('fct_events')) }})
    where linked_id in ({{ relinked_ids() }})
    {% else %}
    {{ identity_links(ref('fct_events')) }}
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

{% if is_incremental() %}
select
    relinked.linked_id,
    winners.user_id,  -- null: the id lost every link (the strategy drops it)
    winners.linked_at,
    winners.event_id,
    winners.linked_by,
    -- the user the id belonged to before, when it now belongs to another one (int_sessions rebuilds both)
    case when known.user_id <> winners.user_id then known.user_id end as moved_from_user_id
from ({{ relinked_ids() }}) as relinked
left join winners on winners.linked_id = relinked.linked_id
left join {{ this }} as known on known.linked_id = relinked.linked_id
{% else %}
select winners.*, null::varchar as moved_from_user_id
from winners
{% endif %}
