{#- One row per non-holdout segment membership of a known person with ads consent who has
    not asked for erasure, with the plaintext identifiers the sync normalises and hashes. -#}

with

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where
        {{ is_not_erased('user_id') }}
        and has_ads_consent

),

memberships as (

    select * from {{ ref('segment_memberships') }}
    where
        not is_holdout
        and user_id is not null

),

final as (

    select
        memberships.user_id,
        memberships.segment_key,
        customers.email,
        customers.phone,
        customers.first_name,
        customers.last_name,
        customers.country,
        customers.postal_code,
        customers.city,
        customers.region,
        customers.birth_date,
        customers.gender,
        memberships.as_of
    from memberships
    inner join customers
        on memberships.user_id = customers.user_id

)

select * from final
