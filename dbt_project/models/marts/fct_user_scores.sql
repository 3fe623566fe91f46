-- The ML scores of each user and scoring day, as `ml.scoring` wrote them (one Parquet file per day), typed.
-- Before the first scoring (a fresh install, or no champion yet) there is no file, and read_parquet refuses a
-- pattern that matches nothing: the table is then built empty, with the same columns and types.
{%- set scores = source('ml', 'user_scores') %}
with scores as (
{%- if ml_output_exists('scores') %}
    select * from {{ scores }}
{%- else %}
    select
        null as user_id, null as as_of_date, null as churn_probability, null as churn_risk_band,
        null as predicted_revenue, null as ltv_horizon_days, null as segment, null as churn_model_version,
        null as ltv_model_version, null as segments_model_version, null as churn_factor_1,
        null as churn_factor_2, null as churn_factor_3
    where false
{%- endif %}
)

select
    cast(user_id as varchar)                  as user_id,
    hash(user_id)                             as user_hash,
    cast(as_of_date as date)                  as as_of_date,
    cast(churn_probability as double)         as churn_probability,
    cast(churn_risk_band as varchar)          as churn_risk_band,
    cast(predicted_revenue as double)         as predicted_revenue,
    cast(ltv_horizon_days as integer)         as ltv_horizon_days,
    cast(segment as varchar)                  as segment,
    cast(churn_model_version as integer)      as churn_model_version,
    cast(ltv_model_version as integer)        as ltv_model_version,
    cast(segments_model_version as integer)   as segments_model_version,
    cast(churn_factor_1 as varchar)           as churn_factor_1,
    cast(churn_factor_2 as varchar)           as churn_factor_2,
    cast(churn_factor_3 as varchar)           as churn_factor_3
from scores
order by as_of_date, user_id
