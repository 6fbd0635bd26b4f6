{#- The built-in keys the rule compiler accepts in in_segment / not_in_segment
    (builtin_segment_keys(), macros/segments/rules/declarations.sql) are exactly the seed
    segment_catalog's: exact keys and prefixes. Any row is a key known to one side only. -#}
{%- set keys = builtin_segment_keys() -%}

with

catalog as (

    select
        segment_key,
        match_type
    from {{ ref('segment_catalog') }}

),

compiler as (

    {% for key in keys.exact -%}
        select '{{ key }}' as segment_key, 'exact' as match_type
        union all
    {% endfor -%}
    {% for prefix in keys.prefixes -%}
        select '{{ prefix }}' as segment_key, 'prefix' as match_type
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

only_in_catalog as (

    select * from catalog
    except
    select * from compiler

),

only_in_compiler as (

    select * from compiler
    except
    select * from catalog

),

final as (

    select
        'only in segment_catalog' as difference,
        segment_key
    from only_in_catalog

    union all

    select
        'only in builtin_segment_keys()' as difference,
        segment_key
    from only_in_compiler

)

select * from final
