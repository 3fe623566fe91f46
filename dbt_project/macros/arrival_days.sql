{# The filter that limits a read of bronze to the arrival days of this run (every day when unset). #}
{% macro in_arrival_days(column='received_date') -%}
    {%- set day_from = var('arrival_day_from') -%}
    {%- set day_to = var('arrival_day_to') -%}
    {%- if day_from is none and day_to is none -%} true
    {%- else -%}
        {{ column }} between date '{{ day_from or day_to }}' and date '{{ day_to or day_from }}'
    {%- endif -%}
{%- endmacro %}

{# The latest arrival day in the lake's bronze events, from the folder names alone (no file is read; no
   folder gives null): the last day the daily exchange rates are carried forward to. The data's "now", not
   the wall clock, so a rebuild of the same lake gives the same table on any day (a macro so that unit tests
   can fix it). The folders are those of the source `lake.bronze_events`, spelled again: a macro cannot read
   a source's location. #}
{% macro lake_latest_arrival_day() -%}
    (select max(regexp_extract(file, 'received_date=(\d{4}-\d{2}-\d{2})', 1))::date
     from glob('{{ env_var("DBT_LAKE_ROOT") }}/bronze/events/event_date=*/received_date=*/*.parquet'))
{%- endmacro %}
