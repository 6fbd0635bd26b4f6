{%- set windows = var('feature_windows_days') -%}

with

events as (

    select * from {{ ref('int_tracker__sessionized_events') }}
    where
        event_type in ('add_to_cart', 'begin_checkout')
        and {{ is_not_after_as_of('occurred_at') }}

),

carts as (

    select * from {{ ref('int_cart_abandonments') }}
    where is_abandoned

),

event_counts as (

    select
        person_id,
        {% for days in windows -%}
            sum(
                case
                    when event_type = 'add_to_cart' and {{ is_within_last('occurred_at', days) }}
                        then 1
                    else 0
                end
            ) as add_to_carts_{{ days }}d,
            sum(
                case
                    when event_type = 'begin_checkout' and {{ is_within_last('occurred_at', days) }}
                        then 1
                    else 0
                end
            ) as checkouts_{{ days }}d,
        {% endfor -%}
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as add_to_carts_lifetime,
        sum(case when event_type = 'begin_checkout' then 1 else 0 end) as checkouts_lifetime
    from events
    group by person_id

),

abandonment_counts as (

    select
        person_id,
        {% for days in windows -%}
            sum(case when {{ is_within_last('abandoned_at', days) }} then 1 else 0 end)
                as cart_abandonments_{{ days }}d,
        {% endfor -%}
        count(*) as cart_abandonments_lifetime
    from carts
    group by person_id

),

people as (

    select person_id from event_counts
    union
    select person_id from abandonment_counts

),

final as (

    select
        people.person_id,
        {% for days in windows -%}
            coalesce(event_counts.add_to_carts_{{ days }}d, 0) as add_to_carts_{{ days }}d,
            coalesce(event_counts.checkouts_{{ days }}d, 0) as checkouts_{{ days }}d,
            coalesce(abandonment_counts.cart_abandonments_{{ days }}d, 0)
                as cart_abandonments_{{ days }}d,
        {% endfor -%}
        coalesce(event_counts.add_to_carts_lifetime, 0) as add_to_carts_lifetime,
        coalesce(event_counts.checkouts_lifetime, 0) as checkouts_lifetime,
        coalesce(abandonment_counts.cart_abandonments_lifetime, 0) as cart_abandonments_lifetime
    from people
    left join event_counts
        on people.person_id = event_counts.person_id
    left join abandonment_counts
        on people.person_id = abandonment_counts.person_id

)

select * from final
