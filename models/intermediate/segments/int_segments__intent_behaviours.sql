{#- One row per purchase-intent behaviour of a person inside the intent look-back window
    (var intent_lookback_days before as_of), named as in the seed intent_weights. -#}

with

page_views as (

    select * from {{ ref('int_tracker__page_views') }}
    where {{ is_within_last('viewed_at', var('intent_lookback_days')) }}

),

events as (

    select * from {{ ref('int_tracker__sessionized_events') }}
    where
        event_type in ('add_to_cart', 'begin_checkout')
        and {{ is_within_last('occurred_at', var('intent_lookback_days')) }}

),

carts as (

    select * from {{ ref('int_cart_abandonments') }}
    where
        is_abandoned
        and {{ is_within_last('abandoned_at', var('intent_lookback_days')) }}

),

email_events as (

    select * from {{ ref('stg_esp__email_events') }}
    where
        email_event_type = 'click'
        and user_id is not null
        and {{ is_within_last('occurred_at', var('intent_lookback_days')) }}

),

product_views as (

    select
        person_id,
        viewed_at,
        row_number() over (
            partition by person_id, product_id order by viewed_at, page_view_id
        ) as view_number
    from page_views
    where page_type = 'product'

),

behaviours as (

    select
        person_id,
        'product_view' as behaviour,
        viewed_at as occurred_at
    from product_views

    union all

    -- every view of a product after the first one within the look-back
    select
        person_id,
        'repeat_product_view' as behaviour,
        viewed_at as occurred_at
    from product_views
    where view_number > 1

    union all

    select
        person_id,
        case event_type
            when 'add_to_cart' then 'add_to_cart'
            else 'checkout_start'
        end as behaviour,
        occurred_at
    from events

    union all

    select
        person_id,
        'cart_abandonment' as behaviour,
        abandoned_at as occurred_at
    from carts

    union all

    select
        user_id as person_id,
        'email_click' as behaviour,
        occurred_at
    from email_events

),

final as (

    select
        person_id,
        cast(behaviour as {{ dbt.type_string() }}) as behaviour,
        occurred_at,
        {{ seconds_between('occurred_at', as_of()) }} / 86400.0 as age_days
    from behaviours

)

select * from final
