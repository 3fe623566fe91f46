{# The files `ml.scoring.score_users` writes, one per scoring day. The source `ml.user_scores` reads the same
   pattern; it is spelled here too because a source's YAML cannot call a macro. #}
{% macro ml_scores_files() -%}
    {{ env_var('DBT_ML_SCORES_DIR') }}/as_of_date=*/*.parquet
{%- endmacro %}

{# Whether any scores file exists: read_parquet fails on a pattern that matches nothing, and a fresh install
   (no champion yet, no scoring run) must still build fct_user_scores, empty. #}
{% macro ml_scores_exist() -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set found = run_query("select count(*) from glob('" ~ ml_scores_files() ~ "')") -%}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}
