with

source as (

    select * from {{ source('esp', 'email_events') }}

),

renamed as (

    select
        cast(event_id as {{ dbt.type_string() }}) as email_event_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        campaign_id,
        lower(event_type) as email_event_type,
        cast(occurred_at as {{ dbt.type_timestamp() }}) as occurred_at,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by email_event_id
            order by loaded_at, occurred_at
        ) as copy_number
    from renamed

),

final as (

    select
        email_event_id,
        user_id,
        campaign_id,
        email_event_type,
        occurred_at,
        loaded_at
    from ranked
    where copy_number = 1

)

select * from final
