-- One row per device profile seen (device type, browser and operating system, from the user agent).
select distinct
    device_key,
    device_type,
    browser,
    os
from {{ ref('fct_events') }}
