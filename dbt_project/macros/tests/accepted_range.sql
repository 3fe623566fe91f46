{#
  Every non-null value of the column lies between `min_value` and `max_value` (either may be omitted),
  bounds included unless `inclusive: false`. Returns the rows outside the range.
#}
{% test accepted_range(model, column_name, min_value=none, max_value=none, inclusive=true) %}
    {%- if min_value is none and max_value is none -%}
        {{ exceptions.raise_compiler_error("accepted_range on " ~ model ~ "." ~ column_name
                                           ~ " needs min_value or max_value (or both) under arguments:") }}
    {%- endif -%}
    {%- set below, above = ('<', '>') if inclusive else ('<=', '>=') %}
    select *
    from {{ model }}
    where {{ column_name }} is not null
      and (false
      {%- if min_value is not none %} or {{ column_name }} {{ below }} {{ min_value }}{% endif %}
      {%- if max_value is not none %} or {{ column_name }} {{ above }} {{ max_value }}{% endif %})
{% endtest %}
