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

{%- set landing_key = "case when event_type = 'page_view' then event_number end" %}

with

events as (

    select * from {{ ref('int_tracker__sessionized_events') }}
    {% if is_incremental() %}
        where anonymous_id in ({{ devices_rebuilt_upstream(ref('int_tracker__sessionized_events')) }})
    {% endif %}

),

time_zones as (

    select * from {{ ref('geo_time_zones') }}

),

time_zone_offsets as (

    select * from {{ ref('time_zone_offsets') }}

),

sessions as (

    -- one aggregation pass: the first event's attributes (event_number 1) and the landing
    -- page (the page view with the lowest event_number) are picked inside the aggregation
    -- instead of joining the events back twice
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
        max(built_at) as built_at,
        max(case when event_number = 1 then device_type end) as device_type,
        max(case when event_number = 1 then browser end) as browser,
        max(case when event_number = 1 then os end) as os,
        max(case when event_number = 1 then country end) as country,
        max(case when event_number = 1 then region end) as region,
        max(case when event_number = 1 then city end) as city,
        max(case when event_number = 1 then referrer end) as referrer,
        max(case when event_number = 1 then utm_source end) as utm_source,
        max(case when event_number = 1 then utm_medium end) as utm_medium,
        max(case when event_number = 1 then utm_campaign end) as utm_campaign,
        {{ first_by('page_url', landing_key) }} as landing_page_url,
        {{ first_by('page_type', landing_key) }} as landing_page_type
    from events
    group by session_id

),

zoned as (

    -- the session's IANA time zone from its first event's geography (seed geo_time_zones):
    -- the country's region row, else the country's default row (null region), else var
    -- default_time_zone; everything is UTC when var local_time is false
    select
        sessions.*,
        {% if var('local_time') -%}
            coalesce(
                region_zones.time_zone,
                country_zones.time_zone,
                '{{ var("default_time_zone") }}'
            )
        {%- else -%}
            'UTC'
        {%- endif %} as time_zone
    from sessions
    left join time_zones as region_zones
        on
            upper(sessions.country) = region_zones.country
            and upper(sessions.region) = region_zones.region
    left join time_zones as country_zones
        on
            upper(sessions.country) = country_zones.country
            and country_zones.region is null

),

localized as (

    -- local wall-clock time from the project's own UTC offsets (macro local_timestamp)
    select
        zoned.*,
        {{ local_timestamp('zoned.started_at', 'zoned.time_zone', 'offsets') }}
            as started_at_local
    from zoned
    {{ join_utc_offset('zoned.started_at', 'zoned.time_zone', 'offsets', 'time_zone_offsets') }}

),

final as (

    select
        session_id,
        anonymous_id,
        user_id,
        person_id,
        started_at,
        ended_at,
        {{ seconds_between('started_at', 'ended_at') }} as duration_seconds,
        page_views,
        cast(engaged_seconds as {{ type_double() }}) as engaged_seconds,
        events,
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
        landing_page_url,
        landing_page_type,
        has_add_to_cart,
        has_begin_checkout,
        has_purchase,
        cast(time_zone as {{ dbt.type_string() }}) as time_zone,
        cast(started_at_local as {{ dbt.type_timestamp() }}) as started_at_local,
        {{ hour_of('started_at_local') }} as local_start_hour,
        {{ iso_day_of_week('started_at_local') }} as local_day_of_week,
        loaded_at,
        built_at  -- noqa: LT02
        {%- if target.type == 'spark' %}
        -- Spark's partition column (docs/engines.md)
        , {{ device_bucket('anonymous_id') }} as device_bucket
        {%- endif %}
    from localized

)

select * from final
