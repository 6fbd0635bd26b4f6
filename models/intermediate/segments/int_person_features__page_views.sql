{%- set windows = var('feature_windows_days') -%}

with

page_views as (

    select * from {{ ref('int_tracker__page_views') }}
    where {{ is_not_after_as_of('viewed_at') }}

),

final as (

    select
        person_id,
        {% for days in windows -%}
            sum(case when {{ is_within_last('viewed_at', days) }} then 1 else 0 end)
                as page_views_{{ days }}d,
            sum(case when {{ is_within_last('viewed_at', days) }} then dwell_seconds else 0 end)
                as time_on_site_seconds_{{ days }}d,
            sum(
                case
                    when page_type = 'product' and {{ is_within_last('viewed_at', days) }} then 1
                    else 0
                end
            ) as product_views_{{ days }}d,
        {% endfor -%}
        count(*) as page_views_lifetime,
        sum(dwell_seconds) as time_on_site_seconds_lifetime,
        sum(case when page_type = 'product' then 1 else 0 end) as product_views_lifetime,
        min(viewed_at) as first_page_view_at,
        max(viewed_at) as last_page_view_at
    from page_views
    group by person_id

)

select * from final
