{{
    config(
        materialized='incremental',
        unique_key='anonymous_id',
        incremental_strategy=device_incremental_strategy(),
        on_schema_change='fail',
        post_hook=["{{ delete_erased_devices() }}"]
    )
}}

-- depends_on: {{ ref('int_identity__device_users') }}

with

events as (

    select * from {{ ref('int_tracker__sessionized_events') }}
    {% if is_incremental() %}
        where anonymous_id in ({{ touched_devices(ref('int_tracker__sessionized_events')) }})
    {% endif %}

),

session_totals as (

    select
        session_id,
        max(anonymous_id) as anonymous_id,
        max(user_id) as user_id,
        max(person_id) as person_id,
        min(occurred_at) as started_at,
        max(occurred_at) as ended_at,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'page_ping' then coalesce(engaged_seconds, 0) else 0 end)
            as engaged_seconds,
        count(*) as events,
        {{ dbt.bool_or("event_type = 'add_to_cart'") }} as has_add_to_cart,
        {{ dbt.bool_or("event_type = 'begin_checkout'") }} as has_begin_checkout,
        {{ dbt.bool_or("event_type = 'purchase'") }} as has_purchase,
        max(loaded_at) as loaded_at,
        min(case when event_type = 'page_view' then event_number end) as landing_event_number
    from events
    group by session_id

),

final as (

    select
        session_totals.session_id,
        session_totals.anonymous_id,
        session_totals.user_id,
        session_totals.person_id,
        session_totals.started_at,
        session_totals.ended_at,
        {{ seconds_between('session_totals.started_at', 'session_totals.ended_at') }}
            as duration_seconds,
        session_totals.page_views,
        cast(session_totals.engaged_seconds as {{ type_double() }}) as engaged_seconds,
        session_totals.events,
        first_events.device_type,
        first_events.browser,
        first_events.os,
        first_events.country,
        first_events.region,
        first_events.city,
        first_events.referrer,
        first_events.utm_source,
        first_events.utm_medium,
        first_events.utm_campaign,
        landing_pages.page_url as landing_page_url,
        landing_pages.page_type as landing_page_type,
        session_totals.has_add_to_cart,
        session_totals.has_begin_checkout,
        session_totals.has_purchase,
        session_totals.loaded_at
    from session_totals
    inner join events as first_events
        on
            session_totals.session_id = first_events.session_id
            and first_events.event_number = 1
    left join events as landing_pages
        on
            session_totals.session_id = landing_pages.session_id
            and session_totals.landing_event_number = landing_pages.event_number

)

select * from final
