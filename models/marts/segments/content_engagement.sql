{#- Recency, frequency and depth of content reading, one row per person who ever viewed a
    content page (var content_page_types) up to as_of. The figures only: the rule that
    names active_engager / occasional_visitor / lapsed_user lives in
    content_engagement_segments. -#}

with

content_views as (

    select * from {{ ref('fct_page_views') }}
    where
        page_type in ('{{ var("content_page_types") | join("', '") }}')
        and {{ is_not_after_as_of('viewed_at') }}

),

per_person as (

    select
        person_id,
        max(user_id) as user_id,
        min(viewed_at) as first_content_view_at,
        max(viewed_at) as last_content_view_at,
        count(*) as content_views_lifetime,
        sum(case when {{ is_within_last('viewed_at', var('content_window_days')) }} then 1 else 0 end)
            as content_views_in_window,
        count(distinct case
            when {{ is_within_last('viewed_at', var('content_window_days')) }}
                then cast(viewed_at as date)
        end) as content_active_days,
        sum(
            case
                when {{ is_within_last('viewed_at', var('content_window_days')) }} then dwell_seconds
                else 0
            end
        ) as content_dwell_seconds_in_window,
        min(case when {{ is_within_last('viewed_at', var('content_window_days')) }} then viewed_at end)
            as first_content_view_in_window_at
    from content_views
    group by person_id

),

measured as (

    select
        *,
        {{ days_before_as_of('last_content_view_at') }} as content_recency_days,
        case
            when content_views_in_window > 0
                then content_dwell_seconds_in_window / content_views_in_window
        end as avg_content_dwell_seconds
    from per_person

),

final as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(first_content_view_at as {{ dbt.type_timestamp() }}) as first_content_view_at,
        cast(last_content_view_at as {{ dbt.type_timestamp() }}) as last_content_view_at,
        cast(first_content_view_in_window_at as {{ dbt.type_timestamp() }})
            as first_content_view_in_window_at,
        content_recency_days,
        cast(content_views_lifetime as {{ dbt.type_bigint() }}) as content_views_lifetime,
        cast(content_views_in_window as {{ dbt.type_bigint() }}) as content_views_in_window,
        cast(content_active_days as {{ dbt.type_bigint() }}) as content_active_days,
        cast(avg_content_dwell_seconds as {{ type_double() }}) as avg_content_dwell_seconds,
        {{ as_of() }} as as_of
    from measured

)

select * from final
