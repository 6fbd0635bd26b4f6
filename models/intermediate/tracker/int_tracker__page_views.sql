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

page_events as (

    -- page views and the heartbeats that follow them, in session order
    select
        *,
        case when event_type = 'page_view' then 0 else 1 end as kind_order
    from events
    where event_type in ('page_view', 'page_ping')

),

numbered as (

    -- each heartbeat belongs to the latest page view before it in the same session
    select
        *,
        sum(case when event_type = 'page_view' then 1 else 0 end) over (
            partition by session_id order by occurred_at, kind_order, event_id
            rows between unbounded preceding and current row
        ) as page_view_number
    from page_events

),

heartbeats as (

    select
        session_id,
        page_view_number,
        count(*) as heartbeat_count,
        sum(coalesce(engaged_seconds, 0)) as heartbeat_engaged_seconds
    from numbered
    where event_type = 'page_ping' and page_view_number > 0
    group by session_id, page_view_number

),

page_views as (

    select
        *,
        lead(occurred_at) over (
            partition by session_id order by occurred_at, event_id
        ) as next_viewed_at
    from numbered
    where event_type = 'page_view'

),

final as (

    select
        page_views.event_id as page_view_id,
        page_views.session_id,
        page_views.anonymous_id,
        page_views.user_id,
        page_views.person_id,
        page_views.page_type,
        page_views.page_url,
        page_views.product_id,
        page_views.product_category,
        page_views.occurred_at as viewed_at,
        cast(least(
            {{ var('session_inactivity_seconds') }},
            case
                when heartbeats.heartbeat_count > 0 then heartbeats.heartbeat_engaged_seconds
                when page_views.next_viewed_at is not null
                    then {{ seconds_between('page_views.occurred_at', 'page_views.next_viewed_at') }}
                else 0
            end
        ) as {{ type_double() }}) as dwell_seconds,
        page_views.loaded_at
    from page_views
    left join heartbeats
        on
            page_views.session_id = heartbeats.session_id
            and page_views.page_view_number = heartbeats.page_view_number

)

select * from final
