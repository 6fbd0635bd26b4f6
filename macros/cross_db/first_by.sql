{#- Aggregate: the value of `value_expr` on the row with the smallest `order_key` of the group
    (rows whose key is null are skipped; null when every key is null). `value_expr` may itself
    be null on that row: the null is returned, not the next row's value. One aggregation pass
    instead of a join back to the rows (the landing page of a session,
    docs/decisions/0014-build-at-the-speed-of-the-engine.md). -#}
{% macro first_by(value_expr, order_key) -%}
    {{ return(adapter.dispatch('first_by', 'audiences')(value_expr, order_key)) }}
{%- endmacro %}

{% macro default__first_by(value_expr, order_key) -%}
    (array_agg({{ value_expr }} order by {{ order_key }})
        filter (where {{ order_key }} is not null))[1]
{%- endmacro %}

{% macro duckdb__first_by(value_expr, order_key) -%}
    arg_min_null({{ value_expr }}, {{ order_key }})
{%- endmacro %}

{% macro spark__first_by(value_expr, order_key) -%}
    min_by({{ value_expr }}, {{ order_key }})
{%- endmacro %}
