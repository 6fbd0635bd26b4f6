{#- The engagement family, whole rule, over the figures of engagement_scores:
    - high_engagement: more than var high_engagement_min_seconds on key pages in the last
      var high_engagement_window_days days (score: those seconds);
    - engaged_user: at least one session in the last var engaged_user_window_days days
      longer than var engaged_user_min_session_seconds with more than var
      engaged_user_min_page_views page views (score: the longest such session);
    - low_engagement: less than var low_engagement_max_seconds on key pages in the last var
      low_engagement_window_days days (or no visit), and none of high_engagement,
      engaged_user or active_engager (score: those seconds).
    Key pages: var key_page_types, plus content pages when var key_pages_include_content. -#}

with

engagement_scores as (

    select * from {{ ref('engagement_scores') }}

),

active_engagers as (

    select person_id from {{ ref('content_engagement_segments') }}
    where segment_key = 'active_engager'

),

classified as (

    select
        engagement_scores.*,
        engagement_scores.key_page_seconds_high_window
        > {{ var('high_engagement_min_seconds') }} as is_high_engagement,
        engagement_scores.engaged_sessions > 0 as is_engaged_user,
        active_engagers.person_id is not null as is_active_engager
    from engagement_scores
    left join active_engagers
        on engagement_scores.person_id = active_engagers.person_id

),

final as (

    select
        person_id,
        'high_engagement' as segment_key,
        'engagement' as segment_family,
        key_page_seconds_high_window as score,
        first_key_page_view_high_window_at as member_since
    from classified
    where is_high_engagement

    union all

    select
        person_id,
        'engaged_user' as segment_key,
        'engagement' as segment_family,
        longest_engaged_session_seconds as score,
        first_engaged_session_at as member_since
    from classified
    where is_engaged_user

    union all

    -- includes people with no visit at all in the window
    select
        person_id,
        'low_engagement' as segment_key,
        'engagement' as segment_family,
        key_page_seconds_low_window as score,
        as_of as member_since
    from classified
    where
        key_page_seconds_low_window < {{ var('low_engagement_max_seconds') }}
        and not is_high_engagement
        and not is_engaged_user
        and not is_active_engager

)

select * from final
