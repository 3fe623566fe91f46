{# The reporting currency (var `reporting_currency`) as an SQL string literal, refused unless it is an ISO
   4217-shaped code: it is spelled into SQL. #}
{% macro reporting_currency() -%}
    {%- set code = (var('reporting_currency') | string | trim | upper) -%}
    {%- if code | length != 3 or not code.isalpha() -%}
        {{ exceptions.raise_compiler_error("var reporting_currency = '" ~ var('reporting_currency')
            ~ "' is not an ISO 4217 code: set ANALYTICS_REPORTING_CURRENCY to three letters, e.g. EUR") }}
    {%- endif -%}
    '{{ code }}'
{%- endmacro %}

{# The latest arrival day in the lake's bronze events, from the folder names alone (no file is read; no
   folder gives null): the last day the daily exchange rates are carried forward to. The data's "now", not
   the wall clock, so a rebuild of the same lake gives the same table on any day (a macro so that unit tests
   can fix it). #}
{% macro lake_latest_arrival_day() -%}
    (select max(regexp_extract(file, 'received_date=(\d{4}-\d{2}-\d{2})', 1))::date
     from glob('{{ env_var("DBT_LAKE_ROOT") }}/bronze/events/event_date=*/received_date=*/*.parquet'))
{%- endmacro %}
