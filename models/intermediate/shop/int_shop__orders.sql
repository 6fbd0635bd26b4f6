{#- One row per order with its line counts; orders of people who asked to be erased are
    dropped (is_not_erased). -#}

with

orders as (

    select * from {{ ref('stg_shop__orders') }}
    where {{ is_not_erased('user_id') }}

),

order_items as (

    select * from {{ ref('stg_shop__order_items') }}

),

order_item_totals as (

    select
        order_id,
        count(*) as items,
        sum(quantity) as quantity
    from order_items
    group by order_id

),

final as (

    select
        orders.order_id,
        orders.user_id,
        orders.user_id as person_id,
        orders.ordered_at,
        orders.order_status,
        orders.is_completed,
        orders.order_total,
        orders.currency,
        coalesce(order_item_totals.items, 0) as items,
        coalesce(order_item_totals.quantity, 0) as quantity
    from orders
    left join order_item_totals
        on orders.order_id = order_item_totals.order_id

)

select * from final
