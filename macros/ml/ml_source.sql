{#- The relation of table `table_name` of the source `ml` (written by `audiences ml`), or
    none when var ml_segments is false, the table does not exist (the step has not run) or
    the engine is Spark (the step writes DuckDB and PostgreSQL only; docs/engines.md).
    source() is always called, so dbt records the dependency. -#}
{% macro ml_source_relation(table_name) -%}
    {%- if not var('ml_segments') or target.type == 'spark' -%}
        {%- set declared = source('ml', table_name) -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(existing_source_relation('ml', table_name)) }}
{%- endmacro %}
