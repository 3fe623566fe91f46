-- Retention never exceeds 100%: a period's retained users are users of the cohort, so at most all of them.
-- Returns the offending cohort periods.
select cohort_grain, cohort_start, period_number, cohort_users, retained_users, retention_rate
from {{ ref('fct_retention') }}
where retained_users > cohort_users
   or retention_rate > 1
