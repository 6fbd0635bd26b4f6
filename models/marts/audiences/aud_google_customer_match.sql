{#- What Google Customer Match (Data Manager API) receives: one row per non-holdout audience membership (user_id,
    segment_key) of a person with ads consent who has not asked for erasure, with the
    plaintext identifiers the sync normalises and SHA-256 hashes before sending. Consent is
    a filter, not a column. -#}

with

members as (

    select * from {{ ref('audience_ads_members') }}

),

final as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(email as {{ dbt.type_string() }}) as email,
        cast(phone as {{ dbt.type_string() }}) as phone,
        cast(first_name as {{ dbt.type_string() }}) as first_name,
        cast(last_name as {{ dbt.type_string() }}) as last_name,
        cast(country as {{ dbt.type_string() }}) as country,
        cast(postal_code as {{ dbt.type_string() }}) as postal_code,
        cast(city as {{ dbt.type_string() }}) as city,
        cast(region as {{ dbt.type_string() }}) as region,
        cast(birth_date as date) as birth_date,
        cast(gender as {{ dbt.type_string() }}) as gender,
        cast(as_of as {{ dbt.type_timestamp() }}) as as_of
    from members

)

select * from final
