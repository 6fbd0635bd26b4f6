{#- Every segment of every family, one row per (person, segment), with the deterministic
    holdout flag (docs/decisions/0004-holdout.md). The built-in families come from
    builtin_segment_family_models() (macros/segments/families.sql), one model each. -#}

with

users as (

    select
        person_id,
        user_id
    from {{ ref('dim_users') }}

),

memberships as (

    {% for family_model in builtin_segment_family_models() + ['custom_segments'] -%}
        select
            person_id,
            segment_key,
            segment_family,
            score,
            member_since
        from {{ ref(family_model) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        {{ dbt_utils.generate_surrogate_key(['memberships.person_id', 'memberships.segment_key']) }}
            as membership_id,
        cast(memberships.person_id as {{ dbt.type_string() }}) as person_id,
        cast(users.user_id as {{ dbt.type_string() }}) as user_id,
        cast(memberships.segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(memberships.segment_family as {{ dbt.type_string() }}) as segment_family,
        cast(memberships.score as {{ type_double() }}) as score,
        cast(memberships.member_since as {{ dbt.type_timestamp() }}) as member_since,
        {{ is_holdout('memberships.person_id', 'memberships.segment_key') }} as is_holdout,
        {{ as_of() }} as as_of
    from memberships
    inner join users
        on memberships.person_id = users.person_id

)

select * from final
