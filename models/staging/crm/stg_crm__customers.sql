with

source as (

    select * from {{ source('crm', 'customers') }}

),

renamed as (

    select
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        {{ normalize_email('email') }} as email,
        nullif(trim(phone), '') as phone,
        first_name,
        last_name,
        cast(birth_date as date) as birth_date,
        lower(gender) as gender,
        country,
        region,
        city,
        postal_code,
        cast(signup_at as {{ dbt.type_timestamp() }}) as signed_up_at,
        cast(updated_at as {{ dbt.type_timestamp() }}) as updated_at,
        coalesce(cast(email_consent as {{ dbt.type_boolean() }}), false) as has_email_consent,
        coalesce(cast(ads_consent as {{ dbt.type_boolean() }}), false) as has_ads_consent,
        cast(consent_updated_at as {{ dbt.type_timestamp() }}) as consent_updated_at,
        cast(deleted_at as {{ dbt.type_timestamp() }}) as deleted_at
    from source

),

versions as (

    select
        *,
        row_number() over (
            partition by user_id
            order by updated_at desc, consent_updated_at desc, email asc
        ) as version_rank,
        -- an erasure request on any version erases the person, whatever came later
        min(deleted_at) over (partition by user_id) as erased_at
    from renamed

),

final as (

    select
        user_id,
        email,
        phone,
        first_name,
        last_name,
        birth_date,
        gender,
        country,
        region,
        city,
        postal_code,
        signed_up_at,
        updated_at,
        has_email_consent,
        has_ads_consent,
        consent_updated_at,
        erased_at,
        erased_at is not null as is_erased
    from versions
    where version_rank = 1

)

select * from final
