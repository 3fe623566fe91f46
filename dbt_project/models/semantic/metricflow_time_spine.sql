{{ config(materialized='table', schema='marts') }}
-- MetricFlow's day spine: one row per UTC day over a fixed span wide enough for any event time the lake
-- accepts (and forecasts ahead). Fixed rather than derived from the data, so cumulative windows and
-- week-over-week offsets have their days even before the first event; 36,525 rows cost nothing to join.
select day::date as date_day
from range(date '2000-01-01', date '2100-01-01', interval 1 day) as days(day)
