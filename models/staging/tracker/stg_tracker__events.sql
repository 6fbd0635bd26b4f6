with

source as (

    select * from {{ source('tracker', 'events') }}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(anonymous_id as {{ dbt.type_string() }}) as anonymous_id,
        cast(nullif(trim(user_id), '') as {{ dbt.type_string() }}) as user_id,
        cast(nullif(trim(session_id), '') as {{ dbt.type_string() }}) as tracker_session_id,
        lower(event_type) as event_type,
        lower(page_type) as page_type,
        page_url,
        product_id,
        lower(product_category) as product_category,
        cast(engaged_seconds as {{ dbt.type_int() }}) as engaged_seconds,
        lower(device_type) as device_type,
        browser,
        os,
        country,
        region,
        city,
        referrer,
        nullif(trim(utm_source), '') as utm_source,
        nullif(trim(utm_medium), '') as utm_medium,
        nullif(trim(utm_campaign), '') as utm_campaign,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

),

ranked as (

    select
        *,
        -- a re-delivered event keeps its device, so partitioning by device too is equivalent
        -- and lets filters on anonymous_id reach below the de-duplication
        row_number() over (
            partition by anonymous_id, event_id
            order by loaded_at, occurred_at
        ) as copy_number
    from renamed

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
    where copy_number = 1

)

select * from final
