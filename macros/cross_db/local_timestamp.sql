{#- The local wall-clock time of a UTC timestamp in an IANA time zone (DST-aware). -#}
{% macro local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    {{ return(adapter.dispatch('local_timestamp', 'audiences')(utc_timestamp_sql, time_zone_sql)) }}
{%- endmacro %}

{% macro default__local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    (({{ utc_timestamp_sql }}) at time zone 'UTC' at time zone ({{ time_zone_sql }}))
{%- endmacro %}

{% macro duckdb__local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    cast(timezone({{ time_zone_sql }}, timezone('UTC', {{ utc_timestamp_sql }})) as timestamp)
{%- endmacro %}

{% macro spark__local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    from_utc_timestamp({{ utc_timestamp_sql }}, {{ time_zone_sql }})
{%- endmacro %}

{#- ISO day of the week of a timestamp: 1 = Monday .. 7 = Sunday. -#}
{% macro iso_day_of_week(timestamp_sql) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'audiences')(timestamp_sql)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(timestamp_sql) -%}
    cast(extract(isodow from {{ timestamp_sql }}) as {{ dbt.type_int() }})
{%- endmacro %}

{% macro spark__iso_day_of_week(timestamp_sql) -%}
    cast(((dayofweek({{ timestamp_sql }}) + 5) % 7) + 1 as int)
{%- endmacro %}
