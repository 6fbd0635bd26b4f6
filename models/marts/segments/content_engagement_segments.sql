{#- The content_engagement family, whole rule, over the figures of the content_engagement
    mart (every person who ever read a page of var content_page_types), exactly one segment
    each (score: content_active_days):
    - lapsed_user: no content view in the last var content_lapsed_after_days days;
    - active_engager: a content view in the last var content_active_max_recency_days days,
      at least var content_active_min_days distinct days with content views and an average
      dwell of at least var content_active_min_avg_dwell_seconds, both over the last var
      content_window_days days;
    - occasional_visitor: everyone else. -#}

with

content_engagement as (

    select * from {{ ref('content_engagement') }}

),

classified as (

    select
        *,
        case
            when not {{ is_within_last('last_content_view_at', var('content_lapsed_after_days')) }}
                then 'lapsed_user'
            when
                {{ is_within_last('last_content_view_at', var('content_active_max_recency_days')) }}
                and content_active_days >= {{ var('content_active_min_days') }}
                and avg_content_dwell_seconds >= {{ var('content_active_min_avg_dwell_seconds') }}
                then 'active_engager'
            else 'occasional_visitor'
        end as content_segment
    from content_engagement

),

final as (

    select
        person_id,
        content_segment as segment_key,
        'content_engagement' as segment_family,
        cast(content_active_days as {{ type_double() }}) as score,
        coalesce(first_content_view_in_window_at, last_content_view_at) as member_since
    from classified

)

select * from final
