{# Schemas are named by layer (`staging`, `intermediate`, `marts`), not prefixed with the target's schema. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {{ custom_schema_name | trim if custom_schema_name is not none else target.schema }}
{%- endmacro %}
