{# The first provisional day (see the provisional rule): every day from it on may still gain late events. #}
{% macro first_provisional_day() -%}
    (select min(date_day) from {{ ref('dim_date') }} where is_provisional)
{%- endmacro %}
