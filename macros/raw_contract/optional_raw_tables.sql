{#- Optional tables of the raw source contract (docs/contracts/foundation-models.md): a
    warehouse may not have them at all. When a table is present, check_raw_contract() holds
    it to its columns (raw_contract()); when it is absent, the staging model that reads it
    through existing_source_relation() is empty and everything downstream still builds. -#}
{% macro optional_raw_tables() -%}
    {{ return(['survey_responses']) }}
{%- endmacro %}
