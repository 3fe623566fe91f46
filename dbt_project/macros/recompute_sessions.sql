{#
  Incremental strategy `recompute_sessions` (int_sessions): the new rows are every session of the users
  this run touched, recomputed from a point no session straddles (`recomputed_from`); replace that user's
  sessions from there on, and drop the sessions filed under identities that now belong to someone else
  (`merged_keys`: an anonymous id that identified in this run). A row without a session id only carries
  that scope: its user has no events left from `recomputed_from` on (they were replaced or moved away).
#}
{% macro get_incremental_recompute_sessions_sql(arg_dict) %}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set source = arg_dict['temp_relation'] -%}
    {%- set columns = arg_dict['dest_columns'] | map(attribute='quoted') | join(', ') -%}
    delete from {{ target }} as existing
    where exists (select 1 from {{ source }} as recomputed
                  where recomputed.user_key = existing.user_key
                    and existing.session_start >= recomputed.recomputed_from)
       or existing.user_key in (select unnest(merged_keys) from {{ source }});
    insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ source }} where session_id is not null;
{% endmacro %}
