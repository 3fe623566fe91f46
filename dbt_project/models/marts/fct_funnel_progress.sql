-- One row per funnel entry (bots excluded): when the user did the first step, how many steps they completed
-- in order within the funnel's conversion window, and when each one happened; with the dimensions of the
-- session they entered in and their first-seen cohort. Funnels: var `funnels`. A user enters once (their
-- first ever first step, `entry: first_ever`) or on each day they do the first step (`each_in_range`, at
-- that day's first one), so a date range counts the users who entered in it, as PostHog and Amplitude do.
with track_events as (
    select user_key, event_name, event_time
    from {{ ref('int_events_stitched') }}
    where event_type = 'track' and not is_bot
),

{% for funnel in var('funnels') %}
{%- set window = "interval " ~ funnel.conversion_window_days ~ " days" %}
{{ funnel.name }}_step_1 as (
    select user_key, min(event_time) as step_1_at
    from track_events
    where event_name = '{{ funnel.steps[0] }}'
    group by user_key{{ ", event_time::date" if funnel_entry(funnel) == 'each_in_range' }}
),
{% for step in funnel.steps[1:] %}
{%- set n = loop.index + 1 %}
{{ funnel.name }}_step_{{ n }} as (
    select previous.*,
        (select min(later.event_time) from track_events as later
         where later.user_key = previous.user_key
           and later.event_name = '{{ step }}'
           and later.event_time >= previous.step_{{ n - 1 }}_at
           and later.event_time < previous.step_1_at + {{ window }}) as step_{{ n }}_at
    from {{ funnel.name }}_step_{{ n - 1 }} as previous
),
{% endfor %}
{{ funnel.name }}_progress as (
    select
        '{{ funnel.name }}' as funnel_name,
        user_key,
        step_1_at as entered_at,
        [{% for _ in funnel.steps %}step_{{ loop.index }}_at{{ ", " if not loop.last }}{% endfor %}] as step_times
    from {{ funnel.name }}_step_{{ funnel.steps | length }}
),
{% endfor %}

progress as (
    {% for funnel in var('funnels') %}
    select * from {{ funnel.name }}_progress {{ "union all" if not loop.last }}
    {% endfor %}
),

first_seen as (
    select user_key, min(first_seen_date) as first_seen_date
    from {{ ref('fct_user_activity_daily') }}
    group by user_key
)

select
    progress.funnel_name,
    progress.user_key,
    hash(progress.user_key)                                                as user_hash,
    progress.entered_at,
    len(list_filter(progress.step_times, lambda step_at: step_at is not null)) as steps_completed,
    progress.step_times,
    date_trunc('week', first_seen.first_seen_date)::date                  as cohort_week,
    session.session_id                                                     as entry_session_id,
    {% for dimension in var('funnel_dimensions') %}
    session.{{ dimension }}{{ "," if not loop.last }}
    {% endfor %}
from progress
left join first_seen using (user_key)
left join {{ ref('dim_sessions') }} as session
    on session.user_key = progress.user_key
   and progress.entered_at between session.session_start and session.session_end
