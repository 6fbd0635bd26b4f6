with

identified_events as (

    select distinct
        anonymous_id,
        user_id
    from {{ ref('stg_tracker__event_loads') }}
    where user_id is not null

),

erased_users as (

    select user_id from {{ ref('int_privacy__erased_users') }}

),

device_user_pairs as (

    select
        identified_events.anonymous_id,
        identified_events.user_id,
        erased_users.user_id is not null as is_erased_user
    from identified_events
    left join erased_users
        on identified_events.user_id = erased_users.user_id

),

final as (

    select
        anonymous_id,
        -- a device seen with exactly one person belongs to that person; a shared device
        -- belongs to nobody, so its anonymous sessions stay anonymous
        case when count(distinct user_id) = 1 then max(user_id) end as user_id,
        count(distinct user_id) as distinct_users,
        count(distinct user_id) > 1 as is_shared_device,
        {{ dbt.bool_or("is_erased_user") }} as has_erased_user
    from device_user_pairs
    group by anonymous_id

)

select * from final
