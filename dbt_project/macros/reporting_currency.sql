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
