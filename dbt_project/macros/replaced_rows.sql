{#
  What a run replaces. A run of arrival days [from, to] replaces their rows in fct_events whole (a day
  compacted again after a PII policy change, an enrichment fix or a quarantine replay may have other rows,
  other identities or fewer events), and every model that keeps rows across runs recomputes what the old
  and the new rows touched. int_events_replaced holds the old rows, read from the tables the last run
  left in the build copy (sources `previous_marts`, `previous_intermediate`) before fct_events replaces them.
#}

{# True when this run replaces loaded rows: an incremental run on a warehouse that has fct_events. #}
{% macro replaces_loaded_rows() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set loaded = source('previous_marts', 'fct_events') -%}
    {{ return(adapter.get_relation(database=loaded.database, schema=loaded.schema,
                                   identifier=loaded.identifier) is not none) }}
{%- endmacro %}

{# Every event of `events` with the user it belongs to after stitching through `identities` (the rule of
   int_identities). #}
{% macro stitched_events(events, identities) %}
    select
        event.*,
        coalesce(by_user.user_key, event.user_id, by_anonymous.user_key, event.anonymous_id) as user_key,
        coalesce(event.user_id, by_anonymous.user_key) is not null                            as is_identified
    from {{ events }} as event
    left join {{ identities }} as by_user
        on by_user.linked_id = event.user_id
    left join {{ identities }} as by_anonymous
        on event.user_id is null and by_anonymous.linked_id = event.anonymous_id
{% endmacro %}

{# The candidate links the events of `events` make (the rule of int_identity_links): an anonymous id by any
   call that carries a userId too, a previousId by an alias. #}
{% macro identity_links(events) %}
    select anonymous_id as linked_id, user_id, event_time as linked_at, event_id, event_type as linked_by
    from {{ events }}
    where anonymous_id is not null and user_id is not null and anonymous_id <> user_id

    union all

    select previous_id, user_id, event_time, event_id, 'alias'
    from {{ events }}
    where event_type = 'alias' and previous_id is not null and user_id is not null and previous_id <> user_id
{% endmacro %}

{# The ids whose link an incremental run derives again: those the new rows of its arrival days link, and
   those the rows it replaced linked (their link may be gone, or belong to another user now). #}
{% macro relinked_ids() %}
    select linked_id from ({{ identity_links('(select * from ' ~ ref('fct_events') ~ ' where '
                                             ~ in_arrival_days('received_date') ~ ')') }})
    union
    select linked_id from ({{ identity_links(ref('int_events_replaced')) }})
{% endmacro %}

{# The event days an incremental run counts again: those of the new rows of its arrival days and those of
   the rows it replaced (a day may have lost every event). #}
{% macro recounted_event_days() %}
    select event_date from {{ ref('fct_events') }} where {{ in_arrival_days('received_date') }}
    union
    select event_date from {{ ref('int_events_replaced') }}
{% endmacro %}

{#
  Incremental strategy `relink` (int_identity_links): the new rows are every id this run derived again;
  replace their links, and drop those whose row has no user (the id lost every link).
#}
{% macro get_incremental_relink_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ target }} where linked_id in (select linked_id from {{ source }});
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ source }} where user_id is not null;
{% endmacro %}
