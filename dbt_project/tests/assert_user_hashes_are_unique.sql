-- No two users share a `user_hash`: the semantic layer joins users on it and counts distinct users by it, so
-- a collision (less than one chance in a billion at a hundred thousand users) would merge two users. Every
-- user with an event has a session, so dim_sessions holds every user_key. Returns the colliding hashes.
select user_hash, list(distinct user_key order by user_key) as user_keys
from {{ ref('dim_sessions') }}
group by user_hash
having count(distinct user_key) > 1
