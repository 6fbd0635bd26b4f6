{{ config(enabled=(target.name != 'spark')) }}

{#- Entries into and exits from segments, from the snapshot history: one 'entered' row per
    membership interval (at its dbt_valid_from) and one 'exited' row per closed interval
    (at its dbt_valid_to). changed_at is when the snapshot observed the change; as_of is the
    as_of of the build that first observed the membership. -#}

with

history as (

    select * from {{ ref('segment_memberships_snapshot') }}

),

entries as (

    select
        membership_id,
        person_id,
        user_id,
        segment_key,
        segment_family,
        'entered' as change_type,
        dbt_valid_from as changed_at,
        as_of
    from history

),

exits as (

    select
        membership_id,
        person_id,
        user_id,
        segment_key,
        segment_family,
        'exited' as change_type,
        dbt_valid_to as changed_at,
        as_of
    from history
    where dbt_valid_to is not null

),

unioned as (

    select * from entries
    union all
    select * from exits

),

final as (

    select
        cast(membership_id as {{ dbt.type_string() }}) as membership_id,
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(segment_family as {{ dbt.type_string() }}) as segment_family,
        cast(change_type as {{ dbt.type_string() }}) as change_type,
        cast(changed_at as {{ dbt.type_timestamp() }}) as changed_at,
        cast(as_of as {{ dbt.type_timestamp() }}) as as_of
    from unioned

)

select * from final
