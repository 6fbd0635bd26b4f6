{#- Every person who asked to be erased (an erasure request on any CRM version of them),
    one row per user_id. The one place that decides who is erased: every model that must
    drop erased people filters against this list, through the macro is_not_erased() or
    (for devices) int_identity__device_users.has_erased_user. -#}

with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

final as (

    select
        user_id,
        erased_at
    from customers
    where is_erased and user_id is not null

)

select * from final
