-- The daily metrics table: Spark's gold rollup (events, distinct identities and revenue per event day,
-- event name, country and device type). `unique_identities` does not add up across rows.
select * from {{ ref('stg_daily_event_rollup') }}
