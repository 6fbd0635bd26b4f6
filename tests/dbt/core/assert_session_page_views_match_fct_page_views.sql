-- Every session's page_views equals the number of its rows in fct_page_views.
with

sessions as (

    select * from {{ ref('fct_sessions') }}

),

page_views as (

    select * from {{ ref('fct_page_views') }}

),

page_views_per_session as (

    select
        session_id,
        count(*) as page_views
    from page_views
    group by session_id

),

final as (

    select
        sessions.session_id,
        sessions.page_views as session_page_views,
        coalesce(page_views_per_session.page_views, 0) as counted_page_views
    from sessions
    left join page_views_per_session
        on sessions.session_id = page_views_per_session.session_id
    where sessions.page_views != coalesce(page_views_per_session.page_views, 0)

)

select * from final
