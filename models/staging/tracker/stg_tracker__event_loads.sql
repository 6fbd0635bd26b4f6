-- The load log: every delivery of every event (duplicates included), typed and renamed.
-- stg_tracker__events keeps the first delivery of each event; incremental models read this
-- log to find the devices touched by new loads and de-duplicate only those devices' events.
with

source as (

    select * from {{ source('tracker', 'events') }}

),

final as (

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
        -- optional raw columns: null when the tracker does not record them
        nullif(
            trim({{ raw_column_or_null('events', 'search_term', dbt.type_string()) }}), ''
        ) as search_term,
        {{ raw_column_or_null('events', 'scroll_depth_percent', dbt.type_int()) }}
            as scroll_depth_percent,
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

)

select * from final
