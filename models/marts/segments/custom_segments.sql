{#- Custom segments declared in segments/custom_segments.yml, compiled by
    compile_custom_segments() (macros/segments/custom_segments.sql) into one select per
    segment over dim_users. -#}
{%- set segments = compile_custom_segments() -%}

with

users as (

    select * from {{ ref('dim_users') }}

),

final as (

    {% for segment in segments %}
    select
        person_id,
        '{{ segment.name }}' as segment_key,
        'custom' as segment_family,
        cast(null as {{ type_double() }}) as score,
        as_of as member_since
    from users
    where {{ segment.sql }}
    {% if not loop.last %}union all{% endif %}
    {% else %}
    select
        person_id,
        cast(null as {{ dbt.type_string() }}) as segment_key,
        'custom' as segment_family,
        cast(null as {{ type_double() }}) as score,
        as_of as member_since
    from users
    where 1 = 0
    {% endfor %}

)

select * from final
