{#- The one time reference every window is measured from (README, "The time reference").
    var('as_of') is an ISO timestamp in UTC; when it is not set, the build time is used. -#}
{% macro as_of() -%}
    {%- set value = var('as_of', none) -%}
    {%- if value is none or value | string | trim == '' -%}
        {{ return(adapter.dispatch('current_utc_timestamp', 'audiences')()) }}
    {%- endif -%}
    {%- set text = value | string | trim | replace('T', ' ') | replace('Z', '') -%}
    {%- if not modules.re.match('^\d{4}-\d{2}-\d{2}( \d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$', text) -%}
        {{ exceptions.raise_compiler_error(
            "var 'as_of' must be an ISO timestamp such as 2026-11-24T00:00:00, got '" ~ value ~ "'") }}
    {%- endif -%}
    cast('{{ text }}' as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro default__current_utc_timestamp() -%}
    cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
{%- endmacro %}

{% macro duckdb__current_utc_timestamp() -%}
    cast(timezone('UTC', now()) as timestamp)
{%- endmacro %}

{% macro postgres__current_utc_timestamp() -%}
    (now() at time zone 'utc')
{%- endmacro %}

{% macro spark__current_utc_timestamp() -%}
    to_utc_timestamp(current_timestamp(), current_timezone())
{%- endmacro %}
