-- Every linked id resolved to its user key: an anonymous id linked to a user who was later aliased to
-- another user id ends at that last id (two hops, as far as Segment's alias semantics go). Two ids linked
-- to each other (A → B, then B → A: an alias cycle, or an id aliased back to the anonymous id it was
-- identified from) must not resolve to themselves, a key that would fail the build for one user's calls:
-- the earlier link wins, so the id it merged into keeps its own key and the other resolves to it.
select
    link.linked_id,
    case when next_link.linked_by = 'alias' and next_link.user_id <> link.linked_id then next_link.user_id
         else link.user_id end                                                     as user_key,
    link.linked_at
from {{ ref('int_identity_links') }} as link
left join {{ ref('int_identity_links') }} as next_link
    on next_link.linked_id = link.user_id
where next_link.user_id is distinct from link.linked_id
   or (link.linked_at, link.event_id) < (next_link.linked_at, next_link.event_id)
