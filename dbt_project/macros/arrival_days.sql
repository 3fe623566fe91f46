{# The filter that limits a read of bronze to the arrival days of this run (every day when unset). #}
{% macro in_arrival_days(column='received_date') -%}
    {%- set day_from = var('arrival_day_from') -%}
    {%- set day_to = var('arrival_day_to') -%}
    {%- if day_from is none and day_to is none -%} true
    {%- else -%}
        {{ column }} between date '{{ day_from or day_to }}' and date '{{ day_to or day_from }}'
    {%- endif -%}
{%- endmacro %}
