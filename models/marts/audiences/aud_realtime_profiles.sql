{#- What the real-time cache receives (destination `redis`, docs/realtime.md): one row per
    person the API can look up, with the sorted ';'-joined keys of their non-holdout
    segments, the keys of the segments they are held out of (never served: the streaming
    evaluator's segment references count them, as the batch rules do), and every id a web
    page may ask with (the user_id and the anonymous_ids of the devices stitched to them; for
    an anonymous person, their device's anonymous_id). Erased people are not in dim_users, so
    they never appear. -#}

with

people as (

    select
        person_id,
        user_id
    from {{ ref('dim_users') }}

),

memberships as (

    select
        person_id,
        segment_key,
        is_holdout
    from {{ ref('segment_memberships') }}

),

stitched_devices as (

    -- shared devices have no user_id: they belong to nobody
    select
        anonymous_id,
        user_id
    from {{ ref('int_identity__device_users') }}
    where user_id is not null

),

person_segments as (

    select
        person_id,
        {{ list_agg_sorted('segment_key', ';') }} as segment_keys
    from memberships
    where not is_holdout
    group by person_id

),

person_holdout_segments as (

    select
        person_id,
        {{ list_agg_sorted('segment_key', ';') }} as holdout_segment_keys
    from memberships
    where is_holdout
    group by person_id

),

person_ids as (

    -- the person's user_id, or the anonymous person's own device id
    select
        person_id,
        coalesce(user_id, person_id) as known_id
    from people

    union

    select
        people.person_id,
        stitched_devices.anonymous_id as known_id
    from people
    inner join stitched_devices
        on people.user_id = stitched_devices.user_id

),

person_known_ids as (

    select
        person_id,
        {{ list_agg_sorted('known_id', ';') }} as known_ids
    from person_ids
    group by person_id

),

final as (

    select
        cast(people.person_id as {{ dbt.type_string() }}) as person_id,
        cast(person_segments.segment_keys as {{ dbt.type_string() }}) as segment_keys,
        cast(
            person_holdout_segments.holdout_segment_keys as {{ dbt.type_string() }}
        ) as holdout_segment_keys,
        cast(person_known_ids.known_ids as {{ dbt.type_string() }}) as known_ids,
        {{ as_of() }} as as_of
    from people
    left join person_segments
        on people.person_id = person_segments.person_id
    left join person_holdout_segments
        on people.person_id = person_holdout_segments.person_id
    left join person_known_ids
        on people.person_id = person_known_ids.person_id
    where
        person_segments.person_id is not null
        or person_holdout_segments.person_id is not null
        or person_known_ids.person_id is not null

)

select * from final
