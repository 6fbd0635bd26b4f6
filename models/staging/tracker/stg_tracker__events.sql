with

deliveries as (

    select * from {{ ref('stg_tracker__event_loads') }}

),

ranked as (

    select
        *,
        {{ delivery_number() }} as delivery_number
    from deliveries

),

final as (

    select
        event_id,
        anonymous_id,
        user_id,
        tracker_session_id,
        event_type,
        page_type,
        page_url,
        product_id,
        product_category,
        engaged_seconds,
        search_term,
        scroll_depth_percent,
        device_type,
        browser,
        os,
        country,
        region,
        city,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        occurred_at,
        loaded_at
    from ranked
    where delivery_number = 1

)

select * from final
