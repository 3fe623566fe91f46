{#
  A row-level rule: `expression` (SQL over the model's columns) holds for every row. On a column, the
  expression is applied to it (`expression: ">= 0"`). Rows where it is false or null fail.
#}
{% test expression_is_true(model, expression, column_name=none) %}
    select *
    from {{ model }}
    where not coalesce(({{ column_name ~ ' ' if column_name is not none }}{{ expression }}), false)
{% endtest %}
