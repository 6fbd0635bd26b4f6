{#- Every documented segment: the built-in catalogue (seed segment_catalog) and the custom
    segments declared in segments/custom_segments.yml. -#}
{%- set custom = compile_custom_segments().segments -%}

with

catalog as (

    select * from {{ ref('segment_catalog') }}

),

custom_segments as (

    {% for segment in custom %}
    select
        '{{ segment.name }}' as segment_key,
        'custom' as segment_family,
        'exact' as match_type,
        '{{ segment.description | trim | replace("'", "''") }}' as description
    {% if not loop.last %}union all{% endif %}
    {% else %}
    select
        cast(null as {{ dbt.type_string() }}) as segment_key,
        cast(null as {{ dbt.type_string() }}) as segment_family,
        cast(null as {{ dbt.type_string() }}) as match_type,
        cast(null as {{ dbt.type_string() }}) as description
    from catalog
    where 1 = 0
    {% endfor %}

),

unioned as (

    select
        segment_key,
        segment_family,
        match_type,
        description
    from catalog

    union all

    select
        segment_key,
        segment_family,
        match_type,
        description
    from custom_segments

),

final as (

    select
        cast(segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(segment_family as {{ dbt.type_string() }}) as segment_family,
        cast(match_type as {{ dbt.type_string() }}) as match_type,
        cast(description as {{ dbt.type_string() }}) as description
    from unioned

)

select * from final
