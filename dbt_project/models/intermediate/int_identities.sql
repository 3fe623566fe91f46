-- Every linked id resolved to its user key: an anonymous id linked to a user who was later aliased to
-- another user id ends at that last id (two hops, as far as Segment's alias semantics go).
select
    link.linked_id,
    coalesce(alias.user_id, link.user_id) as user_key,
    link.linked_at
from {{ ref('int_identity_links') }} as link
left join {{ ref('int_identity_links') }} as alias
    on alias.linked_id = link.user_id and alias.linked_by = 'alias'
