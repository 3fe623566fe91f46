{{ config(materialized='ephemeral') }}
-- Every event with the user it belongs to after stitching: its userId (through aliases), else the user its
-- anonymous id was linked to (retroactively: events before the identify are the user's too), else the
-- anonymous id itself.
{{ stitched_events(ref('fct_events'), ref('int_identities')) }}
