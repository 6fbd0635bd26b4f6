-- One row per event: the delivery that landed first. Only about 1 % of events arrive more
-- than once, so the ranking of whole rows (a sort of every delivery with its payload, the
-- most expensive step of the session build) runs on the re-delivered events alone; the
-- re-delivered events are found by ranking the keys only (decision 0014).
{%- set event_columns = [
    'event_id', 'anonymous_id', 'user_id', 'tracker_session_id', 'event_type', 'page_type',
    'page_url', 'product_id', 'product_category', 'engaged_seconds', 'search_term',
    'scroll_depth_percent', 'device_type', 'browser', 'os', 'country', 'region', 'city',
    'referrer', 'utm_source', 'utm_medium', 'utm_campaign', 'occurred_at', 'loaded_at'
] %}

{#- stg_tracker__event_loads is read by three CTEs below instead of through one import CTE:
    a CTE read more than once is materialized by DuckDB and PostgreSQL, which would copy
    every delivery with its whole payload before the first step. -#}
{%- set deliveries = ref('stg_tracker__event_loads') %}

with

delivery_keys as (

    select
        anonymous_id,
        event_id,
        {{ delivery_number() }} as delivery_number
    from {{ deliveries }}

),

redelivered_events as (

    -- one row per event delivered more than once (its second delivery)
    select
        anonymous_id,
        event_id
    from delivery_keys
    where delivery_number = 2

),

delivered_once as (

    select *
    from {{ deliveries }} as deliveries
    where not exists (
            select 1
            from redelivered_events
            where
                redelivered_events.anonymous_id = deliveries.anonymous_id
                and redelivered_events.event_id = deliveries.event_id
        )

),

redeliveries_ranked as (

    select
        *,
        {{ delivery_number() }} as delivery_number
    from {{ deliveries }} as deliveries
    where exists (
            select 1
            from redelivered_events
            where
                redelivered_events.anonymous_id = deliveries.anonymous_id
                and redelivered_events.event_id = deliveries.event_id
        )

),

first_deliveries as (

    select {{ event_columns | join(', ') }} from delivered_once
    union all
    select {{ event_columns | join(', ') }} from redeliveries_ranked
    where delivery_number = 1

),

final as (

    select
        event_id,
        anonymous_id,
        user_id,
        tracker_session_id,
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
        loaded_at
    from first_deliveries

)

select * from final
