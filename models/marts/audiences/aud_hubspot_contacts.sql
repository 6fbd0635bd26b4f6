{#- What HubSpot receives: one contact per email address (audience_email_contacts: email
    consent, not erased, at least one non-holdout segment, the latest CRM record per email). -#}

with

email_contacts as (

    select * from {{ ref('audience_email_contacts') }}

),

recommendations as (

    select * from {{ ref('int_ml__top_recommended_products') }}

),

final as (

    select
        email_contacts.email,
        email_contacts.user_id,
        email_contacts.first_name,
        email_contacts.last_name,
        email_contacts.phone,
        email_contacts.country,
        email_contacts.city,
        email_contacts.segments,
        email_contacts.rfm_segment,
        email_contacts.intent_tier,
        email_contacts.lifetime_revenue,
        email_contacts.orders_count,
        email_contacts.last_order_at,
        cast(recommendations.recommended_product_1 as {{ dbt.type_string() }})
            as recommended_product_1,
        cast(recommendations.recommended_product_2 as {{ dbt.type_string() }})
            as recommended_product_2,
        cast(recommendations.recommended_product_3 as {{ dbt.type_string() }})
            as recommended_product_3,
        email_contacts.as_of
    from email_contacts
    left join recommendations
        on email_contacts.user_id = recommendations.person_id

)

select * from final
