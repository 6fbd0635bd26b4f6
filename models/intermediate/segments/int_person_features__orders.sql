{#- Completed orders only: cancelled and refunded orders count nowhere. -#}
{%- set windows = var('feature_windows_days') -%}

with

orders as (

    select * from {{ ref('int_shop__orders') }}
    where is_completed and {{ is_not_after_as_of('ordered_at') }}

),

final as (

    select
        person_id,
        max(user_id) as user_id,
        {% for days in windows -%}
            sum(case when {{ is_within_last('ordered_at', days) }} then 1 else 0 end)
                as orders_{{ days }}d,
            sum(case when {{ is_within_last('ordered_at', days) }} then order_total else 0 end)
                as revenue_{{ days }}d,
        {% endfor -%}
        count(*) as orders_lifetime,
        sum(order_total) as revenue_lifetime,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at
    from orders
    group by person_id

)

select * from final
