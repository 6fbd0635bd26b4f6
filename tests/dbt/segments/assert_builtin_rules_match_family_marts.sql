{#- The built-in segments that `audiences explain` explains with a rule
    (builtin_segment_rules(), macros/segments/rules/builtin_rules.sql) select exactly the
    members their family marts hold: any row returned is a person the explanation would get
    wrong. -#}
{%- set relations = segment_rule_relations() -%}
{%- set compiled = compile_custom_segments(builtin_segment_rules(), builtin=true) if execute
    else {'segments': []} -%}

-- depends_on: {{ ref('segment_memberships') }}

-- the CTEs below are written by the rule compiler: its layout is not hand-formatted
-- noqa: disable=LT01,LT02,LT05,LT09,LT11,LT14
with

{% if compiled.segments | length > 0 -%}
{{ segment_rule_shared_ctes(compiled) | join(',\n\n') }},

{% for segment in compiled.segments -%}
{{ segment_rule_segment_ctes(segment) | join(',\n\n') }},

{% endfor -%}
{%- endif %}
by_rule as (

    {% for segment in compiled.segments -%}
        select person_id, '{{ segment.name }}' as segment_key from segment_{{ segment.name }}
        union all
    {% endfor -%}
    select person_id, segment_key from {{ ref('segment_memberships') }} where 1 = 0

),

by_mart as (

    select
        person_id,
        segment_key
    from {{ ref('segment_memberships') }}
    where segment_key in (
        {%- for segment in compiled.segments %}'{{ segment.name }}', {% endfor %}'')

),

final as (

    select
        'only in the rule' as difference,
        only_rule.person_id,
        only_rule.segment_key
    from (select * from by_rule except select * from by_mart) as only_rule

    union all

    select
        'only in the family mart' as difference,
        only_mart.person_id,
        only_mart.segment_key
    from (select * from by_mart except select * from by_rule) as only_mart

)

select * from final
