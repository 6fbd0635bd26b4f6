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

{%- set built_at = sessionized_build_stamp() %}

with

{% if is_incremental() %}

    touched_deliveries as (

        -- every delivery on the devices touched by new loads, ranked here rather than read
        -- from stg_tracker__events, whose ranking window would span the whole table
        select
            *,
            {{ delivery_number() }} as delivery_number
        from {{ ref('stg_tracker__event_loads') }}
        where anonymous_id in ({{ devices_with_new_deliveries(ref('stg_tracker__event_loads')) }})

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

session_events as (

    -- the session rule needs only these columns: windows stay narrow, the payload joins back.
    -- One ordering serves both kinds of session: an event with a tracker session id is
    -- ordered within that session, the others (tracker_session_id null) within the device
    select
        event_id,
        anonymous_id,
        tracker_session_id,
        user_id,
        occurred_at,
        case
            when tracker_session_id is null and utm_source is not null
                then {{ dbt.concat([
                    'utm_source', "'|'",
                    "coalesce(utm_medium, '')", "'|'",
                    "coalesce(utm_campaign, '')"
                ]) }}
        end as campaign_key
    from kept_events

),

device_ordered as (

    -- first window pass: position in the order, the previous event's time and the number of
    -- campaigns seen so far
    select
        *,
        row_number() over (
            partition by anonymous_id, tracker_session_id order by occurred_at, event_id
        ) as sequence_number,
        lag(occurred_at) over (
            partition by anonymous_id, tracker_session_id order by occurred_at, event_id
        ) as previous_occurred_at,
        count(campaign_key) over (
            partition by anonymous_id, tracker_session_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as campaigns_seen
    from session_events

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
        device_ordered.tracker_session_id,
        device_ordered.user_id,
        device_ordered.occurred_at,
        device_ordered.sequence_number,
        case
            when device_ordered.tracker_session_id is not null then 0
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
            and device_ordered.tracker_session_id is null
            and device_ordered.campaigns_seen - 1 = previous_campaigns.campaign_ordinal

),

session_firsts as (

    -- second window pass: the latest session start up to each event, as its position
    -- (zero-padded, so that the running max is the latest) followed by its event_id
    select
        *,
        max(
            case
                when is_session_start = 1
                    then {{ dbt.concat([
                        "lpad(cast(sequence_number as " ~ dbt.type_string() ~ "), 12, '0')",
                        'event_id'
                    ]) }}
            end
        ) over (
            partition by anonymous_id, tracker_session_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as session_first_key
    from session_starts

),

assignments as (

    -- a derived session is named after its first event, a tracker session after its id;
    -- the event number is the position in the order counted from the session's first event
    select
        event_id,
        anonymous_id,
        user_id,
        occurred_at,
        case
            when tracker_session_id is null
                then {{ dbt.hash(dbt.concat([
                    "'derived|'", 'anonymous_id', "'|'",
                    'substr(session_first_key, 13)'
                ])) }}
            else {{ dbt.hash(dbt.concat(["'tracker|'", 'anonymous_id', "'|'", 'tracker_session_id'])) }}
        end as session_id,
        case
            when tracker_session_id is null
                then
                    sequence_number + 1
                    - cast(substr(session_first_key, 1, 12) as {{ dbt.type_bigint() }})
            else sequence_number
        end as event_number
    from session_firsts

),

identified_in_session as (

    select
        session_id,
        user_id,
        row_number() over (
            partition by session_id order by occurred_at desc, event_id desc
        ) as recency_rank
    from assignments
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

owned_assignments as (

    select
        assignments.event_id,
        assignments.anonymous_id,
        assignments.session_id,
        assignments.event_number,
        session_users.session_user_id
    from assignments
    left join session_users
        on assignments.session_id = session_users.session_id

),

sessionized as (

    -- the payload joins the narrow assignments once
    select
        owned_assignments.session_id,
        owned_assignments.event_number,
        owned_assignments.session_user_id,
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
    inner join owned_assignments
        on
            kept_events.anonymous_id = owned_assignments.anonymous_id
            and kept_events.event_id = owned_assignments.event_id

),

final as (

    select
        event_id,
        session_id,
        anonymous_id,
        coalesce(session_user_id, device_user_id) as user_id,
        coalesce(session_user_id, device_user_id, anonymous_id) as person_id,
        event_type,
        page_type,
        page_url,
        product_id,
        product_category,
        engaged_seconds,
        search_term,
        scroll_depth_percent,
        device_type,
        browser,
        os,
        country,
        region,
        city,
        referrer,
        utm_source,
        utm_medium,
        utm_campaign,
        occurred_at,
        loaded_at,
        event_number,
        {{ built_at }} as built_at  -- noqa: LT02
        {%- if target.type == 'spark' %}
        -- Spark's partition column (docs/engines.md)
        , {{ device_bucket('anonymous_id') }} as device_bucket
        {%- endif %}
    from sessionized

)

select * from final
