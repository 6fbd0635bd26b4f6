with

source as (

    select * from {{ source('shop', 'order_items') }}

),

renamed as (

    select
        cast(order_id as {{ dbt.type_string() }}) as order_id,
        cast(line_number as {{ dbt.type_int() }}) as line_number,
        product_id,
        lower(product_category) as product_category,
        cast(quantity as {{ dbt.type_int() }}) as quantity,
        cast(unit_price as {{ type_double() }}) as unit_price
    from source

),

ranked as (

    select
        *,
        row_number() over (
            partition by order_id, line_number
            order by product_id, quantity
        ) as copy_number
    from renamed

),

final as (

    select
        {{ dbt.concat(['order_id', "'-'", 'cast(line_number as ' ~ dbt.type_string() ~ ')']) }}
            as order_item_id,
        order_id,
        line_number,
        product_id,
        product_category,
        quantity,
        unit_price,
        quantity * unit_price as line_total
    from ranked
    where copy_number = 1

)

select * from final
