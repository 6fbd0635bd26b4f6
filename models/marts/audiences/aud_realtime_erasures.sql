{#- The ids the real-time path must forget (destination `redis`, `load: erasures`,
    docs/realtime.md "Erasure"): the user_id of every person who asked to be erased and the
    anonymous_id of every device ever identified as one of them, as the batch models drop
    them (int_privacy__erased_users, int_identity__device_users.has_erased_user). -#}

with

erased_users as (

    select
        user_id,
        erased_at
    from {{ ref('int_privacy__erased_users') }}

),

erased_devices as (

    select anonymous_id
    from {{ ref('int_identity__device_users') }}
    where has_erased_user

),

device_erasures as (

    -- a device identified as several people, one of them erased: erased when the first
    -- of them asked
    select
        erased_devices.anonymous_id as erased_id,
        min(erased_users.erased_at) as erased_at
    from erased_devices
    inner join {{ ref('stg_tracker__event_loads') }} as events
        on erased_devices.anonymous_id = events.anonymous_id
    inner join erased_users
        on events.user_id = erased_users.user_id
    group by erased_devices.anonymous_id

),

erased_ids as (

    select
        user_id as erased_id,
        'user_id' as id_type,
        erased_at
    from erased_users

    union all

    select
        erased_id,
        'anonymous_id' as id_type,
        erased_at
    from device_erasures

),

final as (

    select
        cast(erased_id as {{ dbt.type_string() }}) as erased_id,
        cast(id_type as {{ dbt.type_string() }}) as id_type,
        cast(erased_at as {{ dbt.type_timestamp() }}) as erased_at
    from erased_ids

)

select * from final
