{#- The lifecycle family, whole rule, over the figures of dim_users:
    - lapsed_frequent_buyer: at least var lapsed_buyer_min_orders completed orders, none in
      the last var lapsed_buyer_inactive_days days (score: orders);
    - high_value: the top var high_value_top_share of customers by lifetime revenue, ties
      share the cut (score: revenue);
    - first_time_visitor: exactly one session, started in the last var
      first_time_visitor_days days;
    - new_customer: first completed order in the last var new_customer_days days. -#}

with

users as (

    select * from {{ ref('dim_users') }}

),

customers as (

    -- high_value: top high_value_top_share of customers by lifetime revenue; ties share
    -- the cut (a customer is in when the share of customers with revenue >= theirs is
    -- within the top share)
    select
        person_id,
        revenue_lifetime,
        first_order_at,
        count(*) over (order by revenue_lifetime desc) as customers_at_or_above,
        count(*) over () as customers_total
    from users
    where orders_lifetime > 0

),

final as (

    select
        person_id,
        'lapsed_frequent_buyer' as segment_key,
        'lifecycle' as segment_family,
        cast(orders_lifetime as {{ type_double() }}) as score,
        {{ dbt.dateadd('day', var('lapsed_buyer_inactive_days'), 'last_order_at') }}
            as member_since
    from users
    where
        orders_lifetime >= {{ var('lapsed_buyer_min_orders') }}
        and not {{ is_within_last('last_order_at', var('lapsed_buyer_inactive_days')) }}

    union all

    select
        person_id,
        'high_value' as segment_key,
        'lifecycle' as segment_family,
        cast(revenue_lifetime as {{ type_double() }}) as score,
        first_order_at as member_since
    from customers
    where
        revenue_lifetime > 0
        and cast(customers_at_or_above as {{ type_double() }}) / customers_total
        <= {{ var('high_value_top_share') }}

    union all

    select
        person_id,
        'first_time_visitor' as segment_key,
        'lifecycle' as segment_family,
        cast(null as {{ type_double() }}) as score,
        first_seen_at as member_since
    from users
    where
        sessions_lifetime = 1
        and {{ is_within_last('first_seen_at', var('first_time_visitor_days')) }}

    union all

    select
        person_id,
        'new_customer' as segment_key,
        'lifecycle' as segment_family,
        cast(orders_lifetime as {{ type_double() }}) as score,
        first_order_at as member_since
    from users
    where
        orders_lifetime > 0
        and {{ is_within_last('first_order_at', var('new_customer_days')) }}

)

select * from final
