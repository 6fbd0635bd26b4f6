{#- Post-hook of every model: on PostgreSQL, refresh the planner's statistics of a table just
    built (CTAS tables have none until autovacuum runs, and a join planned on no statistics
    can take a nested loop over every row). Nothing on other engines, nothing for views. -#}
{% macro analyze_table() -%}
    {{ return(adapter.dispatch('analyze_table', 'audiences')()) }}
{%- endmacro %}

{% macro default__analyze_table() -%}{%- endmacro %}

{% macro postgres__analyze_table() -%}
    {%- if config.get('materialized') in ['table', 'incremental'] -%}
        analyze {{ this }}
    {%- endif -%}
{%- endmacro %}
