{#- Segment sizes per build: each build appends one row per segment at its as_of (built_at);
    re-running a build with the same as_of replaces its rows. entries: memberships the
    snapshot opened in this build (their as_of is this build's); exits: the identity
    previous members + entries - members, against this table's latest earlier build (0 on
    the first build that records the segment). -#}
{{
    config(
        enabled=(target.type != 'spark'),
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['built_at', 'segment_key'],
        on_schema_change='fail'
    )
}}

with

memberships as (

    select * from {{ ref('segment_memberships') }}

),

history as (

    select * from {{ ref('segment_memberships_snapshot') }}

),

current_sizes as (

    select
        segment_key,
        count(*) as members
    from memberships
    group by segment_key

),

entries as (

    select
        segment_key,
        count(*) as entries
    from history
    where as_of = {{ as_of() }} and dbt_valid_to is null
    group by segment_key

),

previous_sizes as (

    {% if is_incremental() %}
        select
            segment_key,
            members
        from (
            select
                segment_key,
                members,
                row_number() over (partition by segment_key order by built_at desc) as build_rank
            from {{ this }}
            where built_at < {{ as_of() }}
        ) as earlier_builds
        where build_rank = 1
    {% else %}
        select
            segment_key,
            members
        from current_sizes
        where 1 = 0
    {% endif %}

),

segment_keys as (

    select segment_key from current_sizes
    union
    select segment_key from previous_sizes

),

final as (

    select
        {{ as_of() }} as built_at,
        cast(segment_keys.segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(coalesce(current_sizes.members, 0) as {{ dbt.type_bigint() }}) as members,
        cast(coalesce(entries.entries, 0) as {{ dbt.type_bigint() }}) as entries,
        cast(
            case
                when previous_sizes.segment_key is null then 0
                else
                    previous_sizes.members
                    + coalesce(entries.entries, 0)
                    - coalesce(current_sizes.members, 0)
            end as {{ dbt.type_bigint() }}
        ) as exits
    from segment_keys
    left join current_sizes
        on segment_keys.segment_key = current_sizes.segment_key
    left join entries
        on segment_keys.segment_key = entries.segment_key
    left join previous_sizes
        on segment_keys.segment_key = previous_sizes.segment_key

)

select * from final
