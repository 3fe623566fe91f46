-- A funnel never grows: for every funnel and dimension value, the users who entered step n + 1 are at most
-- those who entered step n (steps are taken in order). fct_funnels leaves out steps nobody entered, so a
-- row whose previous step is missing fails too. Returns the offending steps.
with steps as (
    select
        funnel_name,
        dimension,
        dimension_value,
        step_number,
        entered,
        lag(step_number) over by_value as previous_step_number,
        lag(entered) over by_value      as previous_entered
    from {{ ref('fct_funnels') }}
    window by_value as (partition by funnel_name, dimension, dimension_value order by step_number)
)

select *
from steps
where (step_number = 1 and previous_step_number is not null)
   or (step_number > 1 and (previous_step_number is distinct from step_number - 1 or entered > previous_entered))
