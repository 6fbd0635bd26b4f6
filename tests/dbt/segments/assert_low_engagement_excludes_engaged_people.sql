-- Nobody in low_engagement is in high_engagement, engaged_user or active_engager.
-- Returns the offending memberships.

with

memberships as (

    select * from {{ ref('segment_memberships') }}

),

low_engagement as (

    select person_id from memberships
    where segment_key = 'low_engagement'

),

engaged as (

    select
        person_id,
        segment_key
    from memberships
    where segment_key in ('high_engagement', 'engaged_user', 'active_engager')

),

final as (

    select
        low_engagement.person_id,
        engaged.segment_key
    from low_engagement
    inner join engaged
        on low_engagement.person_id = engaged.person_id

)

select * from final
