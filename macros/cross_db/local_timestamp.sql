{#- The local wall-clock time, as a timestamp without time zone, of a UTC timestamp (without
    time zone) in an IANA time zone ('Europe/Berlin'), daylight saving time included: the
    instant is first read as UTC, then shown in the zone. Both arguments are SQL
    expressions. -#}
{% macro local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    {{ return(adapter.dispatch('local_timestamp', 'audiences')(utc_timestamp_sql, time_zone_sql)) }}
{%- endmacro %}

{#- DuckDB (ICU): timezone(zone, timestamp) reads a naive timestamp as wall-clock time in
    the zone (here UTC) and returns the instant; timezone(zone, instant) returns the naive
    wall-clock time of the instant in the zone. -#}
{% macro duckdb__local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    timezone({{ time_zone_sql }}, timezone('UTC', {{ utc_timestamp_sql }}))
{%- endmacro %}

{#- PostgreSQL: naive at time zone 'UTC' -> timestamptz (the instant); timestamptz at time
    zone zone -> the naive wall-clock time in the zone. -#}
{% macro postgres__local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    (({{ utc_timestamp_sql }}) at time zone 'UTC') at time zone ({{ time_zone_sql }})
{%- endmacro %}

{#- Spark: from_utc_timestamp shifts a UTC timestamp to the zone's wall-clock time. -#}
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

{#- Spark: dayofweek is 1 = Sunday .. 7 = Saturday. -#}
{% macro spark__iso_day_of_week(timestamp_sql) -%}
    cast(((dayofweek({{ timestamp_sql }}) + 5) % 7) + 1 as int)
{%- endmacro %}

{#- The hour 0-23 of a timestamp, as an integer. -#}
{% macro hour_of(timestamp_sql) -%}
    cast(extract(hour from {{ timestamp_sql }}) as {{ dbt.type_int() }})
{%- endmacro %}
