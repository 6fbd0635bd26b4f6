with

content_engagement as (

    select * from {{ ref('content_engagement') }}

),

final as (

    select
        person_id,
        content_segment as segment_key,
        'content_engagement' as segment_family,
        cast(content_active_days as {{ type_double() }}) as score,
        coalesce(first_content_view_in_window_at, last_content_view_at) as member_since
    from content_engagement

)

select * from final
