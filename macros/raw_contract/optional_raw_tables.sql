{#- Optional tables of the raw source contract (docs/contracts/foundation-models.md): a
    warehouse may not have them at all. When a table is present, check_raw_contract() holds
    it to its columns (raw_contract()); when it is absent, the staging model that reads it
    through optional_raw_relation() is empty and everything downstream still builds. -#}
{% macro optional_raw_tables() -%}
    {{ return(['survey_responses']) }}
{%- endmacro %}

{#- The relation of the raw table behind source(source_name, table_name), or none when the
    warehouse has no such table (and at parse time). source() is always called, so dbt
    records the dependency and `dbt ls -s source:...` works. -#}
{% macro optional_raw_relation(source_name, table_name) -%}
    {%- set declared = source(source_name, table_name) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(adapter.get_relation(
        database=declared.database, schema=declared.schema, identifier=declared.identifier)) }}
{%- endmacro %}
