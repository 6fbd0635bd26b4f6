{{
    config(
        materialized='incremental',
        unique_key='anonymous_id',
        incremental_strategy=device_incremental_strategy(),
        on_schema_change='fail',
        post_hook=["{{ delete_erased_devices() }}"]
    )
}}

-- depends_on: {{ ref('stg_tracker__event_loads') }}

with

events as (

    select * from {{ ref('stg_tracker__events') }}
    {% if is_incremental() %}
        where anonymous_id in ({{ touched_devices(ref('stg_tracker__event_loads')) }})
    {% endif %}

),

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

    -- events without a tracker session id: sessions are derived from inactivity and campaign
    select
        *,
        case
            when utm_source is not null
                then {{ dbt.concat([
                    'utm_source', "'|'",
                    "coalesce(utm_medium, '')", "'|'",
                    "coalesce(utm_campaign, '')"
                ]) }}
        end as campaign_key,
        lag(occurred_at) over (
            partition by anonymous_id order by occurred_at, event_id
        ) as previous_occurred_at,
        count(
            case when utm_source is not null then 1 end
        ) over (
            partition by anonymous_id order by occurred_at, event_id
            rows between unbounded preceding and current row
        ) as campaigns_seen
    from kept_events
    where tracker_session_id is null

),

campaign_carried as (

    -- the campaign in force at each event: the latest campaign key seen on the device
    select
        *,
        max(campaign_key) over (
            partition by anonymous_id, campaigns_seen
        ) as campaign_in_force
    from untracked_events

),

session_starts as (

    select
        *,
        case
            when previous_occurred_at is null then 1
            when {{ seconds_between('previous_occurred_at', 'occurred_at') }}
                > {{ var('session_inactivity_seconds') }} then 1
            when campaign_key is not null
                and campaign_key != coalesce(
                    lag(campaign_in_force) over (
                        partition by anonymous_id order by occurred_at, event_id
                    ),
                    ''
                ) then 1
            else 0
        end as is_session_start
    from campaign_carried

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

derived_sessions as (

    select
        *,
        max(case when is_session_start = 1 then event_id end) over (
            partition by anonymous_id, session_number
        ) as session_first_event_id
    from session_numbers

),

sessionized as (

    select
        {{ dbt.hash(dbt.concat(["'derived|'", 'anonymous_id', "'|'", 'session_first_event_id'])) }}
            as session_id,
        event_id,
        anonymous_id,
        user_id,
        device_user_id,
        event_type,
        page_type,
        page_url,
        product_id,
        product_category,
        engaged_seconds,
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
        loaded_at
    from derived_sessions

    union all

    select
        {{ dbt.hash(dbt.concat(["'tracker|'", 'anonymous_id', "'|'", 'tracker_session_id'])) }}
            as session_id,
        event_id,
        anonymous_id,
        user_id,
        device_user_id,
        event_type,
        page_type,
        page_url,
        product_id,
        product_category,
        engaged_seconds,
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
        loaded_at
    from kept_events
    where tracker_session_id is not null

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
        row_number() over (
            partition by sessionized.session_id
            order by sessionized.occurred_at, sessionized.event_id
        ) as event_number
    from sessionized
    left join session_users
        on sessionized.session_id = session_users.session_id

)

select * from final
