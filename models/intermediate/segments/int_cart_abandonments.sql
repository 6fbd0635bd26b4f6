{#- One row per cart: the add_to_cart events of one session of one person, up to as_of.
    A cart is abandoned when the person made no purchase (a purchase event or a completed
    order) between its first add to cart and var('cart_abandonment_grace_minutes') after its
    last add to cart, and that grace period has ended by as_of. -#}

with

events as (

    select * from {{ ref('int_tracker__sessionized_events') }}
    where {{ is_not_after_as_of('occurred_at') }}

),

orders as (

    select * from {{ ref('int_shop__orders') }}
    where is_completed and {{ is_not_after_as_of('ordered_at') }}

),

carts as (

    select
        person_id,
        session_id,
        max(user_id) as user_id,
        min(occurred_at) as first_added_at,
        max(occurred_at) as last_added_at,
        count(*) as add_to_carts,
        count(distinct product_id) as products_added
    from events
    where event_type = 'add_to_cart'
    group by person_id, session_id

),

purchases as (

    select
        person_id,
        occurred_at as purchased_at
    from events
    where event_type = 'purchase'

    union all

    select
        person_id,
        ordered_at as purchased_at
    from orders

),

carts_with_deadline as (

    select
        *,
        {{ dbt.dateadd('minute', var('cart_abandonment_grace_minutes'), 'last_added_at') }}
            as purchase_deadline
    from carts

),

purchased_carts as (

    select distinct
        carts_with_deadline.person_id,
        carts_with_deadline.session_id
    from carts_with_deadline
    inner join purchases
        on
            carts_with_deadline.person_id = purchases.person_id
            and carts_with_deadline.first_added_at <= purchases.purchased_at
            and carts_with_deadline.purchase_deadline >= purchases.purchased_at

),

final as (

    select
        carts_with_deadline.person_id,
        carts_with_deadline.user_id,
        carts_with_deadline.session_id,
        carts_with_deadline.first_added_at,
        carts_with_deadline.last_added_at,
        carts_with_deadline.add_to_carts,
        carts_with_deadline.products_added,
        carts_with_deadline.purchase_deadline,
        purchased_carts.session_id is not null as is_purchased,
        (
            purchased_carts.session_id is null
            and carts_with_deadline.purchase_deadline <= {{ as_of() }}
        ) as is_abandoned,
        case
            when purchased_carts.session_id is null
                and carts_with_deadline.purchase_deadline <= {{ as_of() }}
                then carts_with_deadline.purchase_deadline
        end as abandoned_at
    from carts_with_deadline
    left join purchased_carts
        on
            carts_with_deadline.person_id = purchased_carts.person_id
            and carts_with_deadline.session_id = purchased_carts.session_id

)

select * from final
