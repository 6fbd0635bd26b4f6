with

source as (

    select * from {{ source('shop', 'orders') }}

),

renamed as (

    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(ordered_at as {{ dbt.type_timestamp() }}) as ordered_at,
        lower(status) as order_status,
        cast(order_total as {{ type_double() }}) as order_total,
        upper(currency) as currency,
        cast(loaded_at as {{ dbt.type_timestamp() }}) as loaded_at
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id
            order by loaded_at desc, order_status asc
        ) as version_rank
    from renamed

),

final as (

    select
        order_id,
        user_id,
        ordered_at,
        order_status,
        order_status = 'completed' as is_completed,
        order_total,
        currency,
        loaded_at
    from ranked
    where version_rank = 1

)

select * from final
