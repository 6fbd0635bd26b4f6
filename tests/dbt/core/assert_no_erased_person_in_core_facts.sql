-- People who asked to be erased appear in no core fact, under their user_id or their devices.
with

erased_people as (

    select user_id from {{ ref('stg_crm__customers') }}
    where is_erased

),

erased_devices as (

    select anonymous_id from {{ ref('int_identity__device_users') }}
    where has_erased_user

),

final as (

    select
        'fct_sessions' as relation,
        session_id as row_id
    from {{ ref('fct_sessions') }}
    where
        user_id in (select erased_people.user_id from erased_people)
        or anonymous_id in (select erased_devices.anonymous_id from erased_devices)

    union all

    select
        'fct_page_views' as relation,
        page_view_id as row_id
    from {{ ref('fct_page_views') }}
    where
        user_id in (select erased_people.user_id from erased_people)
        or anonymous_id in (select erased_devices.anonymous_id from erased_devices)

    union all

    select
        'fct_orders' as relation,
        order_id as row_id
    from {{ ref('fct_orders') }}
    where user_id in (select erased_people.user_id from erased_people)

)

select * from final
