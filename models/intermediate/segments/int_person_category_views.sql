{%- set windows = var('feature_windows_days') -%}

with

product_views as (

    select * from {{ ref('int_tracker__page_views') }}
    where
        page_type = 'product'
        and product_category is not null
        and {{ is_not_after_as_of('viewed_at') }}

),

final as (

    select
        person_id,
        product_category,
        {{ slugify('product_category') }} as product_category_slug,
        {% for days in windows -%}
            sum(case when {{ is_within_last('viewed_at', days) }} then 1 else 0 end)
                as product_views_{{ days }}d,
        {% endfor -%}
        count(*) as product_views_lifetime,
        max(viewed_at) as last_viewed_at
    from product_views
    group by person_id, product_category

)

select * from final
