{#- high_engagement, low_engagement and engaged_user. Key pages: var key_page_types. -#}

with

users as (

    select
        person_id,
        as_of
    from {{ ref('dim_users') }}

),

page_views as (

    select * from {{ ref('fct_page_views') }}
    where page_type in (
            '{{ var("key_page_types") | join("', '") }}'  -- noqa: LT05
        )

),

sessions as (

    select * from {{ ref('fct_sessions') }}
    where {{ is_within_last('started_at', var('engaged_user_window_days')) }}

),

key_page_time_recent as (

    select
        person_id,
        sum(dwell_seconds) as key_page_seconds,
        min(viewed_at) as first_viewed_at
    from page_views
    where {{ is_within_last('viewed_at', var('high_engagement_window_days')) }}
    group by person_id

),

key_page_time_low_window as (

    select
        person_id,
        sum(dwell_seconds) as key_page_seconds
    from page_views
    where {{ is_within_last('viewed_at', var('low_engagement_window_days')) }}
    group by person_id

),

engaged_sessions as (

    select
        person_id,
        max(duration_seconds) as longest_session_seconds,
        min(started_at) as first_started_at
    from sessions
    where
        duration_seconds > {{ var('engaged_user_min_session_seconds') }}
        and page_views > {{ var('engaged_user_min_page_views') }}
    group by person_id

),

final as (

    select
        person_id,
        'high_engagement' as segment_key,
        'engagement' as segment_family,
        cast(key_page_seconds as {{ type_double() }}) as score,
        first_viewed_at as member_since
    from key_page_time_recent
    where key_page_seconds > {{ var('high_engagement_min_seconds') }}

    union all

    -- includes people with no visit at all in the window
    select
        users.person_id,
        'low_engagement' as segment_key,
        'engagement' as segment_family,
        cast(coalesce(key_page_time_low_window.key_page_seconds, 0) as {{ type_double() }})
            as score,
        users.as_of as member_since
    from users
    left join key_page_time_low_window
        on users.person_id = key_page_time_low_window.person_id
    where
        coalesce(key_page_time_low_window.key_page_seconds, 0)
        < {{ var('low_engagement_max_seconds') }}

    union all

    select
        person_id,
        'engaged_user' as segment_key,
        'engagement' as segment_family,
        cast(longest_session_seconds as {{ type_double() }}) as score,
        first_started_at as member_since
    from engaged_sessions

)

select * from final
