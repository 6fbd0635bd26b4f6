{{
    config(
        materialized='incremental',
        unique_key='anonymous_id',
        incremental_strategy=device_incremental_strategy(),
        partition_by=device_partition_by(),
        on_schema_change='fail',
        post_hook=["{{ delete_erased_devices() }}"]
    )
}}

-- depends_on: {{ ref('int_identity__device_users') }}

{%- if is_incremental() %}
    {%- set devices_to_rebuild = devices_rebuilt_upstream(ref('int_tracker__sessionized_events')) %}
{%- endif %}

with

events as {{ not_materialized() }}(

    select * from {{ ref('int_tracker__sessionized_events') }}
    {% if is_incremental() %}
        where anonymous_id in ({{ devices_to_rebuild }})
    {% endif %}

),

page_events as (

    -- page views and the heartbeats that follow them, in session order; only the columns
    -- the window needs (the page views' payload joins back by event_id)
    select
        event_id,
        session_id,
        event_type,
        engaged_seconds,
        occurred_at,
        case when event_type = 'page_view' then 0 else 1 end as kind_order
    from events
    where event_type in ('page_view', 'page_ping')

),

numbered as {{ not_materialized() }}(

    -- one window pass: each heartbeat belongs to the latest page view before it in the same
    -- session; a page view's next page view is the earliest page view after it
    select
        event_id,
        session_id,
        event_type,
        engaged_seconds,
        occurred_at,
        sum(case when event_type = 'page_view' then 1 else 0 end) over (
            partition by session_id order by occurred_at, kind_order, event_id
            rows between unbounded preceding and current row
        ) as page_view_number,
        min(case when event_type = 'page_view' then occurred_at end) over (
            partition by session_id order by occurred_at, kind_order, event_id
            rows between 1 following and unbounded following
        ) as next_viewed_at
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
        events.event_id,
        events.session_id,
        events.anonymous_id,
        events.user_id,
        events.person_id,
        events.page_type,
        events.page_url,
        events.product_id,
        events.product_category,
        events.occurred_at,
        events.loaded_at,
        events.built_at,
        numbered.page_view_number,
        numbered.next_viewed_at
    from numbered
    inner join events
        on numbered.event_id = events.event_id
    where numbered.event_type = 'page_view' and events.event_type = 'page_view'

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
        page_views.loaded_at,
        page_views.built_at  -- noqa: LT02
        {%- if target.type == 'spark' %}
        -- Spark's partition column (docs/engines.md)
        , {{ device_bucket('page_views.anonymous_id') }} as device_bucket
        {%- endif %}
    from page_views
    left join heartbeats
        on
            page_views.session_id = heartbeats.session_id
            and page_views.page_view_number = heartbeats.page_view_number

)

select * from final
