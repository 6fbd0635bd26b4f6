{#- What Braze receives: one user per external_id (= user_id) with email consent, not
    erased, at least one non-holdout segment. -#}

with

contacts as (

    select * from {{ ref('audience_contacts') }}
    where has_email_consent

),

recommendations as (

    select * from {{ ref('int_ml__top_recommended_products') }}

),

final as (

    select
        cast(contacts.user_id as {{ dbt.type_string() }}) as external_id,
        cast(contacts.email as {{ dbt.type_string() }}) as email,
        cast(contacts.first_name as {{ dbt.type_string() }}) as first_name,
        cast(contacts.last_name as {{ dbt.type_string() }}) as last_name,
        cast(contacts.phone as {{ dbt.type_string() }}) as phone,
        cast(contacts.country as {{ dbt.type_string() }}) as country,
        cast(contacts.city as {{ dbt.type_string() }}) as city,
        cast(contacts.segments as {{ dbt.type_string() }}) as segments,
        cast(contacts.rfm_segment as {{ dbt.type_string() }}) as rfm_segment,
        {{ round_double("contacts.intent_score", 2) }} as intent_score,
        cast(contacts.intent_tier as {{ dbt.type_string() }}) as intent_tier,
        {{ round_double("contacts.lifetime_revenue", 2) }} as lifetime_revenue,
        cast(contacts.orders_count as {{ dbt.type_int() }}) as orders_count,
        cast(contacts.last_order_at as {{ dbt.type_timestamp() }}) as last_order_at,
        cast(recommendations.recommended_product_1 as {{ dbt.type_string() }})
            as recommended_product_1,
        cast(recommendations.recommended_product_2 as {{ dbt.type_string() }})
            as recommended_product_2,
        cast(recommendations.recommended_product_3 as {{ dbt.type_string() }})
            as recommended_product_3,
        {{ as_of() }} as as_of
    from contacts
    left join recommendations
        on contacts.user_id = recommendations.person_id

)

select * from final
