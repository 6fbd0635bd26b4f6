{#- Local wall-clock time, as a timestamp without time zone, of a UTC timestamp (without
    time zone) in an IANA time zone, daylight saving time included.

    The offsets come from the project's seed time_zone_offsets (a pinned IANA release), not
    from the engine, so DuckDB, PostgreSQL and Spark agree
    (docs/decisions/0017-time-zone-offsets-in-a-seed.md). A model joins the seed once with
    join_utc_offset(ts, zone, alias), then reads local_timestamp(ts, zone, alias); a zone
    the seed does not list (a custom var default_time_zone) falls back to the engine's own
    rules (engine_local_timestamp). All arguments are SQL expressions or aliases; `offsets`
    names an import CTE of the seed when the model has one. -#}
{% macro join_utc_offset(utc_timestamp_sql, time_zone_sql, alias, offsets=none) -%}
    left join {{ offsets if offsets is not none else ref('time_zone_offsets') }} as {{ alias }}
        on
            {{ time_zone_sql }} = {{ alias }}.time_zone
            and cast(extract(year from {{ utc_timestamp_sql }}) as {{ dbt.type_int() }})
            = {{ alias }}.utc_year
            and {{ utc_timestamp_sql }} >= {{ alias }}.valid_from
            and {{ utc_timestamp_sql }} < {{ alias }}.valid_to
{%- endmacro %}

{% macro local_timestamp(utc_timestamp_sql, time_zone_sql, alias) -%}
    case
        when {{ alias }}.utc_offset_seconds is not null
            then {{ add_seconds(utc_timestamp_sql, alias ~ '.utc_offset_seconds') }}
        else {{ engine_local_timestamp(utc_timestamp_sql, time_zone_sql) }}
    end
{%- endmacro %}

{#- A timestamp plus a whole number of seconds (an SQL expression). -#}
{% macro add_seconds(timestamp_sql, seconds_sql) -%}
    {{ return(adapter.dispatch('add_seconds', 'audiences')(timestamp_sql, seconds_sql)) }}
{%- endmacro %}

{% macro default__add_seconds(timestamp_sql, seconds_sql) -%}
    ({{ timestamp_sql }} + ({{ seconds_sql }}) * interval '1 second')
{%- endmacro %}

{% macro duckdb__add_seconds(timestamp_sql, seconds_sql) -%}
    ({{ timestamp_sql }} + to_seconds(cast({{ seconds_sql }} as bigint)))
{%- endmacro %}

{% macro spark__add_seconds(timestamp_sql, seconds_sql) -%}
    ({{ timestamp_sql }} + make_interval(0, 0, 0, 0, 0, 0, {{ seconds_sql }}))
{%- endmacro %}

{#- The engine's own rules: the fallback for a zone the seed does not list. -#}
{% macro engine_local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    {{ return(adapter.dispatch('engine_local_timestamp', 'audiences')(utc_timestamp_sql, time_zone_sql)) }}
{%- endmacro %}

{#- DuckDB (ICU): timezone(zone, timestamp) reads a naive timestamp as wall-clock time in
    the zone (here UTC) and returns the instant; timezone(zone, instant) returns the naive
    wall-clock time of the instant in the zone. -#}
{% macro duckdb__engine_local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    timezone({{ time_zone_sql }}, timezone('UTC', {{ utc_timestamp_sql }}))
{%- endmacro %}

{#- PostgreSQL: naive at time zone 'UTC' -> timestamptz (the instant); timestamptz at time
    zone zone -> the naive wall-clock time in the zone. -#}
{% macro postgres__engine_local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
    (({{ utc_timestamp_sql }}) at time zone 'UTC') at time zone ({{ time_zone_sql }})
{%- endmacro %}

{#- Spark: from_utc_timestamp shifts a UTC timestamp to the zone's wall-clock time. -#}
{% macro spark__engine_local_timestamp(utc_timestamp_sql, time_zone_sql) -%}
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
