{{ config(materialized='ephemeral') }}
-- Every event with the user it belongs to after stitching: its userId (through aliases), else the user its
-- anonymous id was linked to (retroactively: events before the identify are the user's too), else the
-- anonymous id itself.
select
    event.*,
    coalesce(by_user.user_key, event.user_id, by_anonymous.user_key, event.anonymous_id) as user_key,
    coalesce(event.user_id, by_anonymous.user_key) is not null as is_identified
from {{ ref('fct_events') }} as event
left join {{ ref('int_identities') }} as by_user
    on by_user.linked_id = event.user_id
left join {{ ref('int_identities') }} as by_anonymous
    on event.user_id is null and by_anonymous.linked_id = event.anonymous_id
