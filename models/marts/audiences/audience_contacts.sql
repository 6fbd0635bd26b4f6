{#- One row per known, non-erased person with at least one non-holdout segment membership:
    CRM identifiers, consents, the sorted ';'-joined list of their non-holdout segment keys
    and the attributes the destinations receive. The audience marts filter it by consent. -#}

with

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where {{ is_not_erased('user_id') }}

),

memberships as (

    select * from {{ ref('segment_memberships') }}
    where
        not is_holdout
        and user_id is not null

),

users as (

    select * from {{ ref('dim_users') }}

),

rfm_segments as (

    select
        person_id,
        -- the segment name after the 'rfm_' prefix
        substr(segment_key, 5) as rfm_segment
    from {{ ref('rfm_segments') }}

),

purchase_intent as (

    select * from {{ ref('purchase_intent') }}

),

person_segments as (

    select
        user_id,
        {{ list_agg_sorted('segment_key', ';') }} as segments,
        count(*) as segment_count
    from memberships
    group by user_id

),

final as (

    select
        customers.user_id,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.birth_date,
        customers.gender,
        customers.country,
        customers.region,
        customers.city,
        customers.postal_code,
        customers.updated_at,
        customers.has_email_consent,
        customers.has_ads_consent,
        person_segments.segments,
        person_segments.segment_count,
        rfm_segments.rfm_segment,
        purchase_intent.intent_score,
        purchase_intent.intent_tier,
        coalesce(users.revenue_lifetime, 0) as lifetime_revenue,
        coalesce(users.orders_lifetime, 0) as orders_count,
        users.last_order_at
    from customers
    inner join person_segments
        on customers.user_id = person_segments.user_id
    left join users
        on customers.user_id = users.person_id
    left join rfm_segments
        on customers.user_id = rfm_segments.person_id
    left join purchase_intent
        on customers.user_id = purchase_intent.person_id

)

select * from final
