-- Every segment key in segment_memberships is documented: listed in the seed
-- segment_catalog (exactly, or under a prefix such as interested_in_) or declared as a
-- custom segment in segments/custom_segments.yml (both gathered in segment_definitions).
-- Returns the undocumented keys.

with

memberships as (

    select distinct segment_key from {{ ref('segment_memberships') }}

),

definitions as (

    select * from {{ ref('segment_definitions') }}

),

documented as (

    select distinct memberships.segment_key
    from memberships
    inner join definitions
        on
            (definitions.match_type = 'exact' and memberships.segment_key = definitions.segment_key)
            or (
                definitions.match_type = 'prefix'
                and substr(memberships.segment_key, 1, length(definitions.segment_key))
                = definitions.segment_key
                and length(memberships.segment_key) > length(definitions.segment_key)
            )

)

select memberships.segment_key
from memberships
left join documented
    on memberships.segment_key = documented.segment_key
where documented.segment_key is null
