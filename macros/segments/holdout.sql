{#- Deterministic holdout (docs/decisions/0004-holdout.md).
    A member is in the control group of a segment when the bucket of
    md5(person_id || '|' || segment_key) is below var('holdout_percent').
    The bucket is the first 8 hex digits of the md5 read as an integer, modulo 10000,
    divided by 100: a number in [0, 100) with two decimals, identical on every engine and
    every run, independent of the other members and of the build order. -#}
{% macro holdout_bucket(person_id, segment_key) -%}
    (cast(mod(
        {{ hex8_to_bigint(dbt.hash(dbt.concat([person_id, "'|'", segment_key]))) }},
        10000
    ) as {{ type_double() }}) / 100.0)
{%- endmacro %}

{#- With var global_holdout_percent > 0, a person whose bucket for the pseudo segment key
    '__global__' is below it is held out of every segment as well (the global holdout,
    docs/measurement.md); at 0 (the default) the expression is the per-segment one only. -#}
{% macro is_holdout(person_id, segment_key) -%}
    {%- if var('global_holdout_percent', 0) | float > 0 -%}
    (
        {{ holdout_bucket(person_id, segment_key) }} < {{ var('holdout_percent') }}
        or {{ holdout_bucket(person_id, "'__global__'") }} < {{ var('global_holdout_percent') }}
    )
    {%- else -%}
    ({{ holdout_bucket(person_id, segment_key) }} < {{ var('holdout_percent') }})
    {%- endif -%}
{%- endmacro %}

{#- The first 8 hex digits of a hex string as a non-negative bigint. -#}
{% macro hex8_to_bigint(hex_expr) -%}
    {{ return(adapter.dispatch('hex8_to_bigint', 'audiences')(hex_expr)) }}
{%- endmacro %}

{% macro default__hex8_to_bigint(hex_expr) -%}
    (('x' || lpad(substr({{ hex_expr }}, 1, 8), 16, '0'))::bit(64)::bigint)
{%- endmacro %}

{% macro duckdb__hex8_to_bigint(hex_expr) -%}
    cast(('0x' || substr({{ hex_expr }}, 1, 8)) as bigint)
{%- endmacro %}

{% macro spark__hex8_to_bigint(hex_expr) -%}
    cast(conv(substr({{ hex_expr }}, 1, 8), 16, 10) as bigint)
{%- endmacro %}
