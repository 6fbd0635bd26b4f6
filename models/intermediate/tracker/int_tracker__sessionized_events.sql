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

-- depends_on: {{ ref('stg_tracker__event_loads') }}

with

{% if is_incremental() %}

    touched_deliveries as (

        -- every delivery on the devices touched by new loads, ranked here rather than read
        -- from stg_tracker__events, whose ranking window would span the whole table
        select
            *,
            {{ delivery_number() }} as delivery_number
        from {{ ref('stg_tracker__event_loads') }}
        where anonymous_id in ({{ touched_devices(ref('stg_tracker__event_loads')) }})

    ),

    events as (

        select * from touched_deliveries
        where delivery_number = 1

    ),

{% else %}

    events as (

        select * from {{ ref('stg_tracker__events') }}

    ),

{% endif %}

devices as (

    select * from {{ ref('int_identity__device_users') }}

),

kept_events as (

    -- devices on which an erased person was identified are dropped entirely
    select
        events.*,
        devices.user_id as device_user_id
    from events
    left join devices
        on events.anonymous_id = devices.anonymous_id
    where not coalesce(devices.has_erased_user, false)

),

untracked_events as (

    -- the session rule needs only these columns: windows stay narrow, the payload joins back
    select
        event_id,
        anonymous_id,
        occurred_at,
        case
            when utm_source is not null
                then {{ dbt.concat([
                    'utm_source', "'|'",
                    "coalesce(utm_medium, '')", "'|'",
                    "coalesce(utm_campaign, '')"
                ]) }}
        end as campaign_key
    from kept_events
    where tracker_session_id is null

),

device_ordered as (

    select
        *,
        lag(occurred_at) over (
            partition by anonymous_id order by occurred_at, event_id
        ) as previous_occurred_at,
        count(campaign_key) over (
            partition by anonymous_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as campaigns_seen
    from untracked_events

),

campaign_events as (

    -- the device's campaigns in order: the n-th campaign key seen on the device
    select
        anonymous_id,
        campaigns_seen as campaign_ordinal,
        campaign_key
    from device_ordered
    where campaign_key is not null

),

session_starts as (

    select
        device_ordered.event_id,
        device_ordered.anonymous_id,
        device_ordered.occurred_at,
        case
            when device_ordered.previous_occurred_at is null then 1
            when {{ seconds_between('device_ordered.previous_occurred_at', 'device_ordered.occurred_at') }}
                > {{ var('session_inactivity_seconds') }} then 1
            -- a campaign that differs from the latest campaign seen before it on the device
            when device_ordered.campaign_key is not null
                and device_ordered.campaign_key != coalesce(previous_campaigns.campaign_key, '')
                then 1
            else 0
        end as is_session_start
    from device_ordered
    left join campaign_events as previous_campaigns
        on
            device_ordered.anonymous_id = previous_campaigns.anonymous_id
            and device_ordered.campaigns_seen - 1 = previous_campaigns.campaign_ordinal

),

session_numbers as (

    select
        *,
        sum(is_session_start) over (
            partition by anonymous_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_number
    from session_starts

),

derived_assignments as (

    -- a session is named after its first event; numbering within the session by window
    -- (a self-join on the session number misleads PostgreSQL's planner into a nested loop)
    select
        event_id,
        anonymous_id,
        {{ dbt.hash(dbt.concat([
            "'derived|'", 'anonymous_id', "'|'",
            'first_value(event_id) over (partition by anonymous_id, session_number'
            ~ ' order by occurred_at, event_id rows between unbounded preceding and current row)'
        ])) }} as session_id,
        row_number() over (
            partition by anonymous_id, session_number order by occurred_at, event_id
        ) as event_number
    from session_numbers

),

tracker_assignments as (

    select
        event_id,
        anonymous_id,
        {{ dbt.hash(dbt.concat(["'tracker|'", 'anonymous_id', "'|'", 'tracker_session_id'])) }}
            as session_id,
        row_number() over (
            partition by anonymous_id, tracker_session_id order by occurred_at, event_id
        ) as event_number
    from kept_events
    where tracker_session_id is not null

),

assignments as (

    select * from derived_assignments
    union all
    select * from tracker_assignments

),

sessionized as (

    select
        assignments.session_id,
        assignments.event_number,
        kept_events.event_id,
        kept_events.anonymous_id,
        kept_events.user_id,
        kept_events.device_user_id,
        kept_events.event_type,
        kept_events.page_type,
        kept_events.page_url,
        kept_events.product_id,
        kept_events.product_category,
        kept_events.engaged_seconds,
        kept_events.search_term,
        kept_events.scroll_depth_percent,
        kept_events.device_type,
        kept_events.browser,
        kept_events.os,
        kept_events.country,
        kept_events.region,
        kept_events.city,
        kept_events.referrer,
        kept_events.utm_source,
        kept_events.utm_medium,
        kept_events.utm_campaign,
        kept_events.occurred_at,
        kept_events.loaded_at
    from kept_events
    inner join assignments
        on
            kept_events.anonymous_id = assignments.anonymous_id
            and kept_events.event_id = assignments.event_id

),

identified_in_session as (

    select
        session_id,
        user_id,
        row_number() over (
            partition by session_id order by occurred_at desc, event_id desc
        ) as recency_rank
    from sessionized
    where user_id is not null

),

session_users as (

    -- the person who identified last in the session owns the whole session
    select
        session_id,
        user_id as session_user_id
    from identified_in_session
    where recency_rank = 1

),

final as (

    select
        sessionized.event_id,
        sessionized.session_id,
        sessionized.anonymous_id,
        coalesce(session_users.session_user_id, sessionized.device_user_id) as user_id,
        coalesce(
            session_users.session_user_id, sessionized.device_user_id, sessionized.anonymous_id
        ) as person_id,
        sessionized.event_type,
        sessionized.page_type,
        sessionized.page_url,
        sessionized.product_id,
        sessionized.product_category,
        sessionized.engaged_seconds,
        sessionized.search_term,
        sessionized.scroll_depth_percent,
        sessionized.device_type,
        sessionized.browser,
        sessionized.os,
        sessionized.country,
        sessionized.region,
        sessionized.city,
        sessionized.referrer,
        sessionized.utm_source,
        sessionized.utm_medium,
        sessionized.utm_campaign,
        sessionized.occurred_at,
        sessionized.loaded_at,
        sessionized.event_number  -- noqa: LT02
        {%- if target.type == 'spark' %}
        -- Spark's partition column (docs/engines.md)
        , {{ device_bucket('sessionized.anonymous_id') }} as device_bucket
        {%- endif %}
    from sessionized
    left join session_users
        on sessionized.session_id = session_users.session_id

)

select * from final
