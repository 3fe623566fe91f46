-- Every completed step of a funnel happened at or after the step before it and before the end of the
-- conversion window ([entered_at, entered_at + conversion_window_days)), and the steps after the first
-- missing one are missing too. Returns the offending entries.
with windows as (
    {% for funnel in var('funnels') %}
    select '{{ funnel.name }}' as funnel_name, interval {{ funnel.conversion_window_days }} days as conversion_window
    {{ "union all" if not loop.last }}
    {% endfor %}
),

steps as (
    select
        progress.funnel_name,
        progress.user_key,
        progress.entered_at,
        progress.steps_completed,
        windows.conversion_window,
        step.step_number,
        step.step_at,
        lag(step.step_at) over (partition by progress.funnel_name, progress.user_key, progress.entered_at
                                order by step.step_number)
            as previous_step_at
    from {{ ref('fct_funnel_progress') }} as progress
    join windows using (funnel_name),
         unnest(progress.step_times) with ordinality as step(step_at, step_number)
)

select *
from steps
where (step_number <= steps_completed and (step_at is null
                                           or step_at < previous_step_at
                                           or step_at >= entered_at + conversion_window))
   or (step_number > steps_completed and step_at is not null)
