{{ config(enabled=(target.type != 'spark')) }}

{#- How segments overlap: one row per pair of segments (segment_key_a < segment_key_b) that
    share at least one member, holdout members included (they are members). -#}

with

memberships as (

    select * from {{ ref('segment_memberships') }}

),

segment_sizes as (

    select
        segment_key,
        count(*) as members
    from memberships
    group by segment_key

),

shared as (

    select
        memberships_a.segment_key as segment_key_a,
        memberships_b.segment_key as segment_key_b,
        count(*) as members_both
    from memberships as memberships_a
    inner join memberships as memberships_b
        on
            memberships_a.person_id = memberships_b.person_id
            and memberships_a.segment_key < memberships_b.segment_key
    group by memberships_a.segment_key, memberships_b.segment_key

),

final as (

    select
        cast(shared.segment_key_a as {{ dbt.type_string() }}) as segment_key_a,
        cast(shared.segment_key_b as {{ dbt.type_string() }}) as segment_key_b,
        cast(sizes_a.members as {{ dbt.type_bigint() }}) as members_a,
        cast(sizes_b.members as {{ dbt.type_bigint() }}) as members_b,
        cast(shared.members_both as {{ dbt.type_bigint() }}) as members_both,
        cast(shared.members_both as {{ type_double() }})
        / (sizes_a.members + sizes_b.members - shared.members_both) as jaccard
    from shared
    inner join segment_sizes as sizes_a
        on shared.segment_key_a = sizes_a.segment_key
    inner join segment_sizes as sizes_b
        on shared.segment_key_b = sizes_b.segment_key

)

select * from final
