-- The load log: every delivery of every event (duplicates included), just what incremental
-- models need to find the devices touched by new loads and the people seen on each device.
with

source as (

    select * from {{ source('tracker', 'events') }}

),

final as (

    select
        cast(event_id as {{ dbt.type_string() }}) as event_id,
        cast(anonymous_id as {{ dbt.type_string() }}) as anonymous_id,
        cast(nullif(trim(user_id), '') as {{ dbt.type_string() }}) as user_id,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

)

select * from final
