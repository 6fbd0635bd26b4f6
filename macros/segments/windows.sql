{#- True when ts falls in the window of the last `amount` `datepart`s before as_of:
    as_of - amount < ts <= as_of. The window is exact to the second: with 7 days, an event
    exactly 7 days before as_of is out and one a second later is in; events after as_of
    (late data when as_of is in the past) are out. -#}
{% macro is_within_last(ts, amount, datepart='day') -%}
    ({{ ts }} > {{ dbt.dateadd(datepart, -1 * amount, as_of()) }} and {{ ts }} <= {{ as_of() }})
{%- endmacro %}

{#- True when ts is at or before as_of (lifetime features ignore data from after as_of). -#}
{% macro is_not_after_as_of(ts) -%}
    ({{ ts }} <= {{ as_of() }})
{%- endmacro %}

{#- Whole days from ts to as_of (floor), as an integer; null when ts is null. -#}
{% macro days_before_as_of(ts) -%}
    cast(floor({{ seconds_between(ts, as_of()) }} / 86400.0) as {{ dbt.type_int() }})
{%- endmacro %}

{#- Lower-case snake_case slug of a text expression: 'Home & Garden' -> 'home_garden'. -#}
{% macro slugify(expr) -%}
    {{ return(adapter.dispatch('slugify', 'audiences')(expr)) }}
{%- endmacro %}

{% macro default__slugify(expr) -%}
    trim(both '_' from regexp_replace(lower(trim({{ expr }})), '[^a-z0-9]+', '_', 'g'))
{%- endmacro %}

{% macro spark__slugify(expr) -%}
    regexp_replace(regexp_replace(lower(trim({{ expr }})), '[^a-z0-9]+', '_'), '^_+|_+$', '')
{%- endmacro %}
