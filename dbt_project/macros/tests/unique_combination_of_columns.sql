{#
  The grain of a model whose key is several columns: no two rows share the combination (rows where one
  of the columns is null count as one combination, as in a group by). Returns one row per duplicated
  combination, with how many rows share it.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}
    {%- set columns = combination_of_columns | join(', ') %}
    select {{ columns }}, count(*) as rows_sharing_it
    from {{ model }}
    group by {{ columns }}
    having count(*) > 1
{% endtest %}
