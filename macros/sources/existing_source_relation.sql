{#- The relation of table `table_name` of source `source_name` when it exists in the
    warehouse, else none: for sources another program writes after a first `dbt build`
    (`audiences ml`, `audiences sync`). source() is always called, so dbt records the
    dependency. -#}
{% macro existing_source_relation(source_name, table_name) -%}
    {%- set declared = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=declared.database, schema=declared.schema, identifier=declared.identifier)) }}
{%- endmacro %}
