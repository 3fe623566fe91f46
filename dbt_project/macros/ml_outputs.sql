{# The files of one output of the ML stage (`scores`, ...): `$ANALYTICS_DATA_DIR/ml/<output>/<key>=<value>/`,
   one Parquet file per partition, replaced atomically by its writer. The output's source in
   `_ml_sources.yml` reads the same pattern; it is spelled there too because a source's YAML cannot call a
   macro. #}
{% macro ml_output_files(output) -%}
    {{ env_var('DBT_ML_OUTPUTS_DIR') }}/{{ output }}/*=*/*.parquet
{%- endmacro %}

{# Whether any file of the output exists: read_parquet fails on a pattern that matches nothing, and a fresh
   install (no model trained, no run of the stage yet) must still build the output's mart, empty. #}
{% macro ml_output_exists(output) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query("select count(*) from glob('" ~ ml_output_files(output) ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}
