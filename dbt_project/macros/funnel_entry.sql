{# How a user enters funnel `funnel` (its `entry` in the var `funnels`), validated: see the funnel rule. #}
{% macro funnel_entry(funnel) -%}
    {%- set entries = ['each_in_range', 'first_ever'] -%}
    {%- set entry = funnel.get('entry', 'each_in_range') -%}
    {%- if entry not in entries -%}
        {{ exceptions.raise_compiler_error(
            "funnel '" ~ funnel.name ~ "' in vars.funnels of dbt_project.yml: entry '" ~ entry
            ~ "' is not one of " ~ entries | join(', ') ~ " (leave it out for each_in_range)") }}
    {%- endif -%}
    {{- entry -}}
{%- endmacro %}
