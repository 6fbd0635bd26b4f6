{#- Written between a CTE's name and its body (`events as {{ not_materialized() }}(`): on
    PostgreSQL, `not materialized`, so that a CTE read twice is planned inside each query
    that reads it, with the table's statistics. Materialized, PostgreSQL guesses a CTE's
    filtered row count (0.5 % of its rows) and can join two of them in a nested loop:
    int_tracker__page_views took 223 s on 30,000 events that way, 0.2 s inlined. Nothing on
    other engines, which plan CTEs themselves. -#}
{% macro not_materialized() -%}
    {{ return(adapter.dispatch('not_materialized', 'audiences')()) }}
{%- endmacro %}

{% macro default__not_materialized() -%}{%- endmacro %}

{% macro postgres__not_materialized() -%}not materialized {% endmacro %}
