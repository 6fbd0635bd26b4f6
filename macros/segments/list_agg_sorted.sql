{#- Distinct values of expr, sorted ascending and joined with sep, as one text value per group.
    Use it as an aggregate: select person_id, {{ list_agg_sorted('segment_key', ';') }} ... group by person_id -#}
{% macro list_agg_sorted(expr, sep) -%}
    {{ return(adapter.dispatch('list_agg_sorted', 'audiences')(expr, sep)) }}
{%- endmacro %}

{% macro default__list_agg_sorted(expr, sep) -%}
    string_agg(distinct {{ expr }}, '{{ sep }}' order by {{ expr }})
{%- endmacro %}

{% macro spark__list_agg_sorted(expr, sep) -%}
    array_join(array_sort(collect_set({{ expr }})), '{{ sep }}')
{%- endmacro %}
