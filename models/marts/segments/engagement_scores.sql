{#- The figures the engagement family thresholds on, one row per person of dim_users:
    seconds on key pages (macro key_page_types_sql: var key_page_types, plus content pages
    when var key_pages_include_content) in the high_engagement and the low_engagement
    windows, and the sessions that qualify for engaged_user. The rules live in
    engagement_segments. -#}

with

users as (

    select
        person_id,
        user_id
    from {{ ref('dim_users') }}

),

key_page_views as (

    select * from {{ ref('fct_page_views') }}
    where page_type in ({{ key_page_types_sql() }})

),

recent_sessions as (

    select * from {{ ref('fct_sessions') }}
    where {{ is_within_last('started_at', var('engaged_user_window_days')) }}

),

high_window_key_pages as (

    select
        person_id,
        sum(dwell_seconds) as key_page_seconds,
        min(viewed_at) as first_key_page_view_at
    from key_page_views
    where {{ is_within_last('viewed_at', var('high_engagement_window_days')) }}
    group by person_id

),

low_window_key_pages as (

    select
        person_id,
        sum(dwell_seconds) as key_page_seconds
    from key_page_views
    where {{ is_within_last('viewed_at', var('low_engagement_window_days')) }}
    group by person_id

),

engaged_sessions as (

    -- sessions longer than var engaged_user_min_session_seconds with more than var
    -- engaged_user_min_page_views page views
    select
        person_id,
        count(*) as engaged_sessions,
        max(duration_seconds) as longest_engaged_session_seconds,
        min(started_at) as first_engaged_session_at
    from recent_sessions
    where
        duration_seconds > {{ var('engaged_user_min_session_seconds') }}
        and page_views > {{ var('engaged_user_min_page_views') }}
    group by person_id

),

final as (

    select
        cast(users.person_id as {{ dbt.type_string() }}) as person_id,
        cast(users.user_id as {{ dbt.type_string() }}) as user_id,
        cast(coalesce(high_window_key_pages.key_page_seconds, 0) as {{ type_double() }})
            as key_page_seconds_high_window,
        cast(high_window_key_pages.first_key_page_view_at as {{ dbt.type_timestamp() }})
            as first_key_page_view_high_window_at,
        cast(coalesce(low_window_key_pages.key_page_seconds, 0) as {{ type_double() }})
            as key_page_seconds_low_window,
        cast(coalesce(engaged_sessions.engaged_sessions, 0) as {{ dbt.type_bigint() }})
            as engaged_sessions,
        cast(engaged_sessions.longest_engaged_session_seconds as {{ type_double() }})
            as longest_engaged_session_seconds,
        cast(engaged_sessions.first_engaged_session_at as {{ dbt.type_timestamp() }})
            as first_engaged_session_at,
        {{ as_of() }} as as_of
    from users
    left join high_window_key_pages
        on users.person_id = high_window_key_pages.person_id
    left join low_window_key_pages
        on users.person_id = low_window_key_pages.person_id
    left join engaged_sessions
        on users.person_id = engaged_sessions.person_id

)

select * from final
