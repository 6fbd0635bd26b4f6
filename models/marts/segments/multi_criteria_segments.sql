{#- The multi_criteria family, whole rule:
    - high_engagement_on_site: more than var on_site_min_seconds on site in the last var
      on_site_window_days days (score: seconds);
    - interested_in_<category>: one micro-segment per product category (slugified), more
      than var category_interest_min_product_views product views of it in the last var
      category_interest_window_days days (score: views);
    - potential_buyer: a cart abandoned among the carts whose last add to cart is in the
      last var cart_abandonment_window_hours hours (score: abandoned carts). -#}

with

page_views as (

    select * from {{ ref('fct_page_views') }}

),

carts as (

    select * from {{ ref('int_cart_abandonments') }}

),

time_on_site as (

    select
        person_id,
        sum(dwell_seconds) as time_on_site_seconds,
        min(viewed_at) as first_viewed_at
    from page_views
    where {{ is_within_last('viewed_at', var('on_site_window_days')) }}
    group by person_id

),

category_views as (

    select
        person_id,
        {{ slugify('product_category') }} as category_slug,
        count(*) as product_views,
        min(viewed_at) as first_viewed_at
    from page_views
    where
        page_type = 'product'
        and product_category is not null
        and {{ is_within_last('viewed_at', var('category_interest_window_days')) }}
    group by person_id, {{ slugify('product_category') }}

),

recent_abandoned_carts as (

    -- carts started in the last cart_abandonment_window_hours hours whose grace period
    -- ended without a purchase
    select
        person_id,
        count(*) as abandoned_carts,
        min(first_added_at) as first_added_at
    from carts
    where
        is_abandoned
        and {{ is_within_last('last_added_at', var('cart_abandonment_window_hours'), 'hour') }}
    group by person_id

),

final as (

    select
        person_id,
        'high_engagement_on_site' as segment_key,
        'multi_criteria' as segment_family,
        cast(time_on_site_seconds as {{ type_double() }}) as score,
        first_viewed_at as member_since
    from time_on_site
    where time_on_site_seconds > {{ var('on_site_min_seconds') }}

    union all

    select
        person_id,
        {{ dbt.concat(["'interested_in_'", 'category_slug']) }} as segment_key,
        'multi_criteria' as segment_family,
        cast(product_views as {{ type_double() }}) as score,
        first_viewed_at as member_since
    from category_views
    where
        product_views > {{ var('category_interest_min_product_views') }}
        and category_slug != ''

    union all

    select
        person_id,
        'potential_buyer' as segment_key,
        'multi_criteria' as segment_family,
        cast(abandoned_carts as {{ type_double() }}) as score,
        first_added_at as member_since
    from recent_abandoned_carts

)

select * from final
