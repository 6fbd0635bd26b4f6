{#- A double rounded to `places` decimals, identical on every build: parallel sums of doubles
    are not bit-stable, and an audience attribute that wobbles in its last bit would be
    re-sent to the destination on every sync. -#}
{% macro round_double(expression, places) -%}
    {{ return(adapter.dispatch('round_double', 'audiences')(expression, places)) }}
{%- endmacro %}

{% macro default__round_double(expression, places) -%}
    cast(round(cast({{ expression }} as numeric), {{ places }}) as {{ type_double() }})
{%- endmacro %}

{% macro duckdb__round_double(expression, places) -%}
    cast(round({{ expression }}, {{ places }}) as double)
{%- endmacro %}

{% macro spark__round_double(expression, places) -%}
    cast(round({{ expression }}, {{ places }}) as double)
{%- endmacro %}
