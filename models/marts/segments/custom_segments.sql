{#- Custom segments declared in segments/custom_segments.yml in the rule language
    (docs/segments.md), compiled by compile_custom_segments() (macros/segments/rules/):
    one CTE per condition that reads events, sessions or other segments, one CTE of members
    per segment (in reference order), one row per (person, segment). -#}
{%- set compiled = compile_custom_segments() -%}
{%- set relations = segment_rule_relations() -%}

-- the CTEs below are written by the rule compiler: its layout is not hand-formatted
-- noqa: disable=LT01,LT02,LT05,LT09,LT11,LT14
with

{% if compiled.segments | length > 0 -%}
{{ (segment_rule_shared_ctes(compiled)) | join(',\n\n') }},

{% for segment in compiled.segments -%}
{{ segment_rule_segment_ctes(segment) | join(',\n\n') }},

{% endfor -%}
{%- endif %}
memberships as (

    {% for segment in compiled.segments -%}
        select
            person_id,
            '{{ segment.name }}' as segment_key
        from segment_{{ segment.name }}
        union all
    {% endfor -%}
    select
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as segment_key
    from {{ relations.column_model_0 }}
    where 1 = 0

),

final as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(segment_key as {{ dbt.type_string() }}) as segment_key,
        cast('custom' as {{ dbt.type_string() }}) as segment_family,
        cast(null as {{ type_double() }}) as score,
        {{ as_of() }} as member_since
    from memberships

)

select * from final
