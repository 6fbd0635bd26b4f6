{#- The people an email tool may receive, one row per email address: email consent, not
    erased, at least one non-holdout segment. When two CRM records share an email, the most
    recently updated one holds it. HubSpot contacts and Marketo leads are both this set. -#}

with

contacts as (

    select * from {{ ref('audience_contacts') }}
    where
        has_email_consent
        and email is not null

),

ranked as (

    select
        *,
        row_number() over (
            partition by email order by updated_at desc, user_id asc
        ) as email_rank
    from contacts

),

final as (

    select
        cast(email as {{ dbt.type_string() }}) as email,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(first_name as {{ dbt.type_string() }}) as first_name,
        cast(last_name as {{ dbt.type_string() }}) as last_name,
        cast(phone as {{ dbt.type_string() }}) as phone,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(postal_code as {{ dbt.type_string() }}) as postal_code,
        cast(segments as {{ dbt.type_string() }}) as segments,
        cast(rfm_segment as {{ dbt.type_string() }}) as rfm_segment,
        cast(intent_tier as {{ dbt.type_string() }}) as intent_tier,
        {{ round_double("lifetime_revenue", 2) }} as lifetime_revenue,
        cast(orders_count as {{ dbt.type_int() }}) as orders_count,
        cast(last_order_at as {{ dbt.type_timestamp() }}) as last_order_at,
        {{ as_of() }} as as_of
    from ranked
    where email_rank = 1

)

select * from final
