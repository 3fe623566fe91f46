-- Funnel steps per dimension value: users who entered each step (completed it after the steps before, in
-- order, within the window, from any of their entries), how many went on to the next step, the drop-off,
-- and the median time from this step to the next (over entries). `dimension` = 'all' for the whole funnel, 'cohort_week' for first-seen cohorts,
-- or a dimension of the entry session (var `funnel_dimensions`).
{%- set dimensions = ['cohort_week'] + var('funnel_dimensions') %}
with progress as (
    select * from {{ ref('fct_funnel_progress') }}
),

by_dimension as (
    select *, 'all' as dimension, 'all' as dimension_value from progress
    {% for dimension in dimensions %}
    union all
    select *, '{{ dimension }}', coalesce({{ dimension }}::varchar, '(none)') from progress
    {% endfor %}
),

steps as (
    {% for funnel in var('funnels') %}
    {% for step in funnel.steps %}
    select '{{ funnel.name }}' as funnel_name, {{ loop.index }} as step_number, '{{ step }}' as step_name,
           {{ funnel.steps | length }} as step_count
    {{ "union all" if not loop.last }}
    {% endfor %}
    {{ "union all" if not loop.last }}
    {% endfor %}
),

counted as (
    select
        steps.funnel_name,
        by_dimension.dimension,
        by_dimension.dimension_value,
        steps.step_number,
        steps.step_name,
        steps.step_count,
        count(distinct by_dimension.user_key) filter (where by_dimension.steps_completed >= steps.step_number)
                                                                                       as entered,
        count(distinct by_dimension.user_key) filter (where by_dimension.steps_completed >= steps.step_number + 1)
                                                                                       as converted,
        median(date_diff('millisecond', by_dimension.step_times[steps.step_number],
                         by_dimension.step_times[steps.step_number + 1]) / 1000.0)
            filter (where by_dimension.steps_completed >= steps.step_number + 1)      as median_seconds_to_convert
    from steps
    join by_dimension on by_dimension.funnel_name = steps.funnel_name
    group by all
)

select
    funnel_name,
    dimension,
    dimension_value,
    step_number,
    step_name,
    entered,
    case when step_number < step_count then converted end                     as converted,
    case when step_number < step_count then entered - converted end           as dropped_off,
    case when step_number < step_count then converted / nullif(entered, 0) end as step_conversion_rate,
    median_seconds_to_convert
from counted
where entered > 0
