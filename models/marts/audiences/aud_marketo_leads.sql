{#- What Marketo receives: one lead per email address (audience_email_contacts: email
    consent, not erased, at least one non-holdout segment, the latest CRM record per email),
    the columns of aud_hubspot_contacts plus postal_code. -#}

with

email_contacts as (

    select * from {{ ref('audience_email_contacts') }}

),

final as (

    select
        email,
        user_id,
        first_name,
        last_name,
        phone,
        country,
        city,
        postal_code,
        segments,
        rfm_segment,
        intent_tier,
        lifetime_revenue,
        orders_count,
        last_order_at,
        as_of
    from email_contacts

)

select * from final
