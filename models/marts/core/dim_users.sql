{#- One row per person (person_id: the stitched user_id where known, else the device's
    anonymous_id) with behavioural, transactional, engagement, demographic and contextual
    features, every window ending at as_of. Erased people are not here. -#}
{%- set windows = var('feature_windows_days') -%}
{%- set periods = [] -%}
{%- for days in windows -%}{%- do periods.append(days ~ 'd') -%}{%- endfor -%}
{%- do periods.append('lifetime') -%}
{%- set bigint = dbt.type_bigint() -%}
{%- set double = type_double() -%}
{%- set interaction_names = ['cta_clicks', 'video_plays', 'form_submits', 'searches'] -%}

with

session_features as (

    select * from {{ ref('int_person_features__sessions') }}

),

page_view_features as (

    select * from {{ ref('int_person_features__page_views') }}

),

commerce_features as (

    select * from {{ ref('int_person_features__commerce') }}

),

order_features as (

    select * from {{ ref('int_person_features__orders') }}

),

email_features as (

    select * from {{ ref('int_person_features__email') }}

),

interaction_features as (

    select * from {{ ref('int_person_features__interactions') }}

),

category_views as (

    select * from {{ ref('int_person_category_views') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where
        {{ is_not_erased('user_id') }}
        and (signed_up_at is null or {{ is_not_after_as_of('signed_up_at') }})

),

erased_users as (

    select user_id from {{ ref('int_privacy__erased_users') }}

),

people as (

    select
        person_id,
        user_id
    from session_features
    union
    select
        person_id,
        user_id
    from order_features
    union
    select
        person_id,
        user_id
    from email_features
    union
    select
        user_id as person_id,
        user_id
    from customers

),

{% for period in periods %}
    top_category_{{ period }} as (

    -- most viewed product category; ties go to the most recently viewed, then alphabetical
        select
            person_id,
            product_category,
            product_views_{{ period }} as product_views,
            row_number() over (
                partition by person_id
                order by product_views_{{ period }} desc, last_viewed_at desc, product_category asc
            ) as category_rank
        from category_views
        where product_views_{{ period }} > 0

    ),

{% endfor %}

joined as (

    select
        people.person_id,
        people.user_id,
        people.user_id is not null as is_identified,
        session_features.first_session_at,
        session_features.last_session_at,
        {% for period in periods -%}
            coalesce(session_features.sessions_{{ period }}, 0) as sessions_{{ period }},
            coalesce(page_view_features.page_views_{{ period }}, 0) as page_views_{{ period }},
            coalesce(page_view_features.time_on_site_seconds_{{ period }}, 0)
                as time_on_site_seconds_{{ period }},
            coalesce(page_view_features.product_views_{{ period }}, 0) as product_views_{{ period }},
            top_category_{{ period }}.product_category as top_product_category_{{ period }},
            coalesce(top_category_{{ period }}.product_views, 0)
                as top_product_category_views_{{ period }},
            coalesce(commerce_features.add_to_carts_{{ period }}, 0) as add_to_carts_{{ period }},
            coalesce(commerce_features.checkouts_{{ period }}, 0) as checkouts_{{ period }},
            coalesce(commerce_features.cart_abandonments_{{ period }}, 0)
                as cart_abandonments_{{ period }},
            coalesce(order_features.orders_{{ period }}, 0) as orders_{{ period }},
            coalesce(order_features.revenue_{{ period }}, 0) as revenue_{{ period }},
            coalesce(email_features.email_opens_{{ period }}, 0) as email_opens_{{ period }},
            coalesce(email_features.email_clicks_{{ period }}, 0) as email_clicks_{{ period }},
            email_features.email_open_rate_{{ period }},
            email_features.email_click_rate_{{ period }},
            {% for name in interaction_names -%}
                coalesce(interaction_features.{{ name }}_{{ period }}, 0) as {{ name }}_{{ period }},
            {% endfor -%}
            interaction_features.max_scroll_depth_percent_{{ period }},
        {% endfor -%}
        order_features.first_order_at,
        order_features.last_order_at,
        session_features.primary_device_type,
        session_features.primary_country,
        session_features.primary_city,
        session_features.primary_browser,
        interaction_features.last_search_term,
        session_features.first_touch_utm_source,
        session_features.first_touch_utm_medium,
        session_features.last_touch_utm_source,
        session_features.last_touch_utm_medium,
        session_features.evening_session_share,
        session_features.daytime_session_share,
        customers.gender,
        customers.birth_date,
        customers.signed_up_at,
        coalesce(customers.has_email_consent, false) as has_email_consent,
        coalesce(customers.has_ads_consent, false) as has_ads_consent
    from people
    left join erased_users
        on people.user_id = erased_users.user_id
    left join session_features
        on people.person_id = session_features.person_id
    left join page_view_features
        on people.person_id = page_view_features.person_id
    left join commerce_features
        on people.person_id = commerce_features.person_id
    left join order_features
        on people.person_id = order_features.person_id
    left join email_features
        on people.person_id = email_features.person_id
    left join interaction_features
        on people.person_id = interaction_features.person_id
    left join customers
        on people.user_id = customers.user_id
    {% for period in periods -%}
        left join top_category_{{ period }}
            on
                people.person_id = top_category_{{ period }}.person_id
                and top_category_{{ period }}.category_rank = 1
    {% endfor -%}
    where erased_users.user_id is null

),

final as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        is_identified,
        {% for period in periods -%}
            cast(sessions_{{ period }} as {{ bigint }}) as sessions_{{ period }},
            cast(page_views_{{ period }} as {{ bigint }}) as page_views_{{ period }},
            cast(time_on_site_seconds_{{ period }} as {{ double }}) as time_on_site_seconds_{{ period }},
            cast(product_views_{{ period }} as {{ bigint }}) as product_views_{{ period }},
            cast(top_product_category_{{ period }} as {{ dbt.type_string() }})
                as top_product_category_{{ period }},
            cast(top_product_category_views_{{ period }} as {{ bigint }})
                as top_product_category_views_{{ period }},
            cast(add_to_carts_{{ period }} as {{ bigint }}) as add_to_carts_{{ period }},
            cast(checkouts_{{ period }} as {{ bigint }}) as checkouts_{{ period }},
            cast(cart_abandonments_{{ period }} as {{ bigint }}) as cart_abandonments_{{ period }},
            cast(orders_{{ period }} as {{ bigint }}) as orders_{{ period }},
            cast(revenue_{{ period }} as {{ double }}) as revenue_{{ period }},
            cast(email_opens_{{ period }} as {{ bigint }}) as email_opens_{{ period }},
            cast(email_clicks_{{ period }} as {{ bigint }}) as email_clicks_{{ period }},
            cast(email_open_rate_{{ period }} as {{ double }}) as email_open_rate_{{ period }},
            cast(email_click_rate_{{ period }} as {{ double }}) as email_click_rate_{{ period }},
            {% for name in interaction_names -%}
                cast({{ name }}_{{ period }} as {{ bigint }}) as {{ name }}_{{ period }},
            {% endfor -%}
            cast(max_scroll_depth_percent_{{ period }} as {{ dbt.type_int() }})
                as max_scroll_depth_percent_{{ period }},
        {% endfor -%}
        cast(
            case when orders_lifetime > 0 then revenue_lifetime / orders_lifetime end
            as {{ double }}
        ) as average_order_value,
        cast(first_order_at as {{ dbt.type_timestamp() }}) as first_order_at,
        cast(last_order_at as {{ dbt.type_timestamp() }}) as last_order_at,
        {{ days_before_as_of('last_order_at') }} as days_since_last_order,
        cast(first_session_at as {{ dbt.type_timestamp() }}) as first_seen_at,
        cast(last_session_at as {{ dbt.type_timestamp() }}) as last_seen_at,
        {{ days_before_as_of('last_session_at') }} as days_since_last_visit,
        cast(primary_device_type as {{ dbt.type_string() }}) as primary_device_type,
        cast(primary_country as {{ dbt.type_string() }}) as primary_country,
        cast(primary_city as {{ dbt.type_string() }}) as primary_city,
        cast(primary_browser as {{ dbt.type_string() }}) as primary_browser,
        cast(last_search_term as {{ dbt.type_string() }}) as last_search_term,
        cast(first_touch_utm_source as {{ dbt.type_string() }}) as first_touch_utm_source,
        cast(first_touch_utm_medium as {{ dbt.type_string() }}) as first_touch_utm_medium,
        cast(last_touch_utm_source as {{ dbt.type_string() }}) as last_touch_utm_source,
        cast(last_touch_utm_medium as {{ dbt.type_string() }}) as last_touch_utm_medium,
        cast(evening_session_share as {{ double }}) as evening_session_share,
        cast(daytime_session_share as {{ double }}) as daytime_session_share,
        cast(gender as {{ dbt.type_string() }}) as gender,
        cast(
            floor(
                {{ seconds_between('cast(birth_date as ' ~ dbt.type_timestamp() ~ ')', as_of()) }} / (365.2425 * 86400)
            )
            as {{ dbt.type_int() }}
        ) as age_years,
        cast(signed_up_at as {{ dbt.type_timestamp() }}) as signed_up_at,
        has_email_consent,
        has_ads_consent,
        {{ as_of() }} as as_of
    from joined

)

select * from final
