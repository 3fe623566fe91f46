-- One row per country seen, with its name (ISO 3166-1; `unknown` when the IP had no country).
select
    seen.country_code,
    coalesce(country.country_name, 'Unknown') as country_name
from (select distinct country_code from {{ ref('fct_events') }}) as seen
left join {{ ref('countries') }} as country on country.country_code = seen.country_code
