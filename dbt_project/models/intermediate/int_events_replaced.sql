-- The rows of fct_events this run replaces, as the last run left them, each with the user the last run
-- stitched it to: every loaded row of the run's arrival days (a day compacted again replaces its rows
-- whole), and a row of another day whose id the run's days hold an earlier copy of (days compacted out of
-- order: the first arrival wins). fct_events deletes them before it inserts the run's rows, and the models
-- that keep rows across runs recompute what they touched. Empty on a full refresh and on the first build.
-- Cost: a scan of fct_events' arrival days (its rows are stored in load order, so the zone maps skip most
-- of it) and a join of the run's ids with the loaded ones, the scan fct_events' anti-join makes anyway.
{% if replaces_loaded_rows() %}
with loaded as (
    select event_id, event_type, event_time, event_date, received_at, received_date, user_id, anonymous_id,
           previous_id
    from {{ source('previous_marts', 'fct_events') }}
),

replaced as (
    select * from loaded
    where {{ in_arrival_days('received_date') }}

    union all

    select loaded.*
    from loaded
    join {{ ref('stg_events') }} as arrived on arrived.event_id = loaded.event_id
    where not ({{ in_arrival_days('loaded.received_date') }})
      and (arrived.received_at < loaded.received_at
           or (arrived.received_at = loaded.received_at and arrived.received_date < loaded.received_date))
)

select event_id, event_type, event_time, event_date, received_date, user_id, anonymous_id, previous_id, user_key,
       '{{ invocation_id }}' as invocation_id
from ({{ stitched_events('replaced', source('previous_intermediate', 'int_identities')) }})
{% else %}
select event_id, event_type, event_time, event_date, received_date, user_id, anonymous_id, previous_id,
       null::varchar as user_key, '{{ invocation_id }}' as invocation_id
from {{ ref('stg_events') }}
where false
{% endif %}
