{%- set windows = var('feature_windows_days') -%}

with

sessions as (

    select * from {{ ref('int_tracker__sessions') }}
    where {{ is_not_after_as_of('started_at') }}

),

session_counts as (

    select
        person_id,
        max(user_id) as user_id,
        {% for days in windows -%}
            sum(case when {{ is_within_last('started_at', days) }} then 1 else 0 end)
                as sessions_{{ days }}d,
        {% endfor -%}
        count(*) as sessions_lifetime,
        min(started_at) as first_session_at,
        max(least(ended_at, {{ as_of() }})) as last_session_at,
        -- local_start_hour: the session's local hour (UTC when var local_time is false)
        sum(
            case
                when local_start_hour >= {{ var('evening_start_hour') }} then 1
                else 0
            end
        ) as evening_sessions,
        sum(
            case
                when local_start_hour >= {{ var('daytime_start_hour') }}
                    and local_start_hour < {{ var('evening_start_hour') }} then 1
                else 0
            end
        ) as daytime_sessions
    from sessions
    group by person_id

),

{% for attribute in ['device_type', 'country', 'city', 'browser'] %}
    {{ attribute }}_ranked as (

    -- the value of the most sessions; ties go to the most recent, then alphabetical
        select
            person_id,
            {{ attribute }},
            row_number() over (
                partition by person_id
                order by count(*) desc, max(started_at) desc, {{ attribute }}
            ) as value_rank
        from sessions
        where {{ attribute }} is not null
        group by person_id, {{ attribute }}

    ),

{% endfor %}

campaign_sessions as (

    -- sessions that carry campaign parameters, numbered from the first and from the last
    -- (ties on start time: session_id)
    select
        person_id,
        utm_source,
        utm_medium,
        row_number() over (partition by person_id order by started_at asc, session_id asc)
            as first_touch_rank,
        row_number() over (partition by person_id order by started_at desc, session_id desc)
            as last_touch_rank
    from sessions
    where utm_source is not null

),

final as (

    select
        session_counts.person_id,
        session_counts.user_id,
        {% for days in windows -%}
            session_counts.sessions_{{ days }}d,
        {% endfor -%}
        session_counts.sessions_lifetime,
        session_counts.first_session_at,
        session_counts.last_session_at,
        cast(session_counts.evening_sessions as {{ type_double() }})
        / session_counts.sessions_lifetime as evening_session_share,
        cast(session_counts.daytime_sessions as {{ type_double() }})
        / session_counts.sessions_lifetime as daytime_session_share,
        device_type_ranked.device_type as primary_device_type,
        country_ranked.country as primary_country,
        city_ranked.city as primary_city,
        browser_ranked.browser as primary_browser,
        first_touches.utm_source as first_touch_utm_source,
        first_touches.utm_medium as first_touch_utm_medium,
        last_touches.utm_source as last_touch_utm_source,
        last_touches.utm_medium as last_touch_utm_medium
    from session_counts
    left join device_type_ranked
        on
            session_counts.person_id = device_type_ranked.person_id
            and device_type_ranked.value_rank = 1
    left join country_ranked
        on
            session_counts.person_id = country_ranked.person_id
            and country_ranked.value_rank = 1
    left join city_ranked
        on
            session_counts.person_id = city_ranked.person_id
            and city_ranked.value_rank = 1
    left join browser_ranked
        on
            session_counts.person_id = browser_ranked.person_id
            and browser_ranked.value_rank = 1
    left join campaign_sessions as first_touches
        on
            session_counts.person_id = first_touches.person_id
            and first_touches.first_touch_rank = 1
    left join campaign_sessions as last_touches
        on
            session_counts.person_id = last_touches.person_id
            and last_touches.last_touch_rank = 1

)

select * from final
