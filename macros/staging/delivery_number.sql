{#- The rank of a delivery among the copies of the same event: 1 = the copy that landed
    first (earliest loaded_at, then earliest occurred_at). A re-delivered event keeps its
    anonymous_id, so partitioning by device as well as event_id gives the same result and
    lets a filter on anonymous_id be applied before the ranking.

    stg_tracker__events keeps delivery 1 of every event. Incremental models rank only the
    deliveries of the devices they rebuild (DuckDB and PostgreSQL cannot push a semi-join on
    anonymous_id below the window of the staging view, so reading that view would rank the
    whole table on every run). -#}
{% macro delivery_number() -%}
    row_number() over (
        partition by anonymous_id, event_id
        order by loaded_at, occurred_at
    )
{%- endmacro %}
