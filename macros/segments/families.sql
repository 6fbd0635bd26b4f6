{#- The built-in segment family models, each with columns person_id, segment_key,
    segment_family, score, member_since. segment_memberships unions them with
    custom_segments; custom rules reference their keys through in_segment. -#}
{% macro builtin_segment_family_models() -%}
    {{ return(['int_segments__purchase_intent', 'int_segments__multi_criteria',
               'int_segments__engagement', 'int_segments__content_engagement',
               'int_segments__rfm', 'int_segments__lifecycle']) }}
{%- endmacro %}
