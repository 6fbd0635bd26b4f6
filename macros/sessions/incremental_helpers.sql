{#- Incremental config shared by the device-keyed event models.
    Late events re-open whole device histories: on DuckDB and PostgreSQL the rows of every
    device touched by newly loaded events are deleted and rebuilt (delete+insert keyed on
    anonymous_id). On Spark (parquet tables, no row-level delete) the tables are partitioned
    by a hash bucket of the device (column device_bucket, var spark_device_buckets) and the
    strategy is insert_overwrite with dynamic partitions: a run rebuilds every device of the
    buckets that new loads touched and overwrites only those partitions
    (docs/decisions/0014-build-at-the-speed-of-the-engine.md). -#}
{% macro device_incremental_strategy() -%}
    {{ return('insert_overwrite' if target.type == 'spark' else 'delete+insert') }}
{%- endmacro %}

{#- partition_by of the device-keyed models: the device bucket on Spark, nothing elsewhere. -#}
{% macro device_partition_by() -%}
    {{ return(['device_bucket'] if target.type == 'spark' else none) }}
{%- endmacro %}

{#- The device's hash bucket, 0 .. var spark_device_buckets - 1 (Spark only): the column
    device_bucket that the device-keyed models add to their final select on Spark. -#}
{% macro device_bucket(device_expr) -%}
    pmod(hash({{ device_expr }}), {{ var('spark_device_buckets') }})
{%- endmacro %}

{#- The select list of a fact over a device-keyed model: every column but the bookkeeping
    columns built_at and (on Spark) device_bucket. -#}
{% macro fact_columns(relation) -%}
    {%- if execute -%}
        {%- set names = [] -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- if column.name | lower not in ('built_at', 'device_bucket') -%}
                {%- do names.append(column.quoted) -%}
            {%- endif -%}
        {%- endfor -%}
        {{ names | join(', ') }}
    {%- else -%}
        *
    {%- endif -%}
{%- endmacro %}

{#- A timestamp value (or none) as a SQL literal. -#}
{% macro timestamp_literal(value) -%}
    {%- if value is none -%}
        cast(null as {{ dbt.type_timestamp() }})
    {%- else -%}
        cast('{{ value }}' as {{ dbt.type_timestamp() }})
    {%- endif -%}
{%- endmacro %}

{#- The latest value of a timestamp column of this table (none when it is empty). -#}
{% macro latest_in_this(column) -%}
    {%- set latest = none -%}
    {%- if execute -%}
        {%- set latest = run_query(
            'select max(' ~ column ~ ') from ' ~ this
        ).columns[0].values()[0] -%}
    {%- endif -%}
    {{ return(latest) }}
{%- endmacro %}

{#- The table's watermark (latest loaded_at) minus the look-back, as a timestamp literal. -#}
{% macro incremental_since_literal() -%}
    {%- set watermark_literal = timestamp_literal(latest_in_this('loaded_at')) -%}
    {{ return(dbt.dateadd('hour', -1 * var('incremental_lookback_hours'), watermark_literal)) }}
{%- endmacro %}

{#- built_at of the rows int_tracker__sessionized_events writes in this run: the run's start,
    or one millisecond after the table's latest built_at if the clock went back, so that the
    models downstream, which rebuild the devices built after their own latest built_at, never
    miss a rebuilt device. -#}
{% macro sessionized_build_stamp() -%}
    {%- set stamp = run_started_at.strftime('%Y-%m-%d %H:%M:%S.%f') -%}
    {%- if execute and is_incremental() -%}
        {%- set latest = latest_in_this('built_at') -%}
        {%- if latest is not none -%}
            {%- set after_latest = (
                latest + modules.datetime.timedelta(milliseconds=1)
            ).strftime('%Y-%m-%d %H:%M:%S.%f') -%}
            {%- if after_latest > stamp -%}
                {%- set stamp = after_latest -%}
            {%- endif -%}
        {%- endif -%}
    {%- endif -%}
    {{ return(timestamp_literal(stamp)) }}
{%- endmacro %}

{#- Devices with a delivery that int_tracker__sessionized_events has not yet accounted for:
    a delivery loaded after the table's watermark minus the look-back (loader lag) whose event
    the table does not hold from the same or an earlier delivery (the first delivery by
    loaded_at, then occurred_at, is the one kept). Deliveries the table already reflects are
    skipped, so an unchanged run rebuilds no device instead of every device seen in the
    look-back window. The watermark is read first and written into the query as a literal:
    with a scalar subquery in its place DuckDB cannot prune the scan by loaded_at. -#}
{% macro devices_with_new_deliveries(deliveries_relation) -%}
    {{ return(adapter.dispatch('devices_with_new_deliveries', 'audiences')(deliveries_relation)) }}
{%- endmacro %}

{% macro default__devices_with_new_deliveries(deliveries_relation) -%}
    {%- set since = incremental_since_literal() -%}
    select distinct recent.anonymous_id
    from (
        select anonymous_id, event_id, loaded_at, occurred_at
        from {{ deliveries_relation }}
        where loaded_at > {{ since }}
    ) as recent
    left join (
        select anonymous_id, event_id, loaded_at, occurred_at
        from {{ this }}
        where event_id in (
            select event_id from {{ deliveries_relation }}
            where loaded_at > {{ since }}
        )
    ) as kept
        on
            recent.anonymous_id = kept.anonymous_id
            and recent.event_id = kept.event_id
            and (
                kept.loaded_at < recent.loaded_at
                or (kept.loaded_at = recent.loaded_at and kept.occurred_at <= recent.occurred_at)
            )
    where kept.event_id is null
{%- endmacro %}

{% macro spark__devices_with_new_deliveries(deliveries_relation) -%}
    {{ return(spark_devices_of_touched_buckets(
        deliveries_relation, default__devices_with_new_deliveries(deliveries_relation)
    )) }}
{%- endmacro %}

{#- Devices that int_tracker__sessionized_events rebuilt after this table's latest built_at:
    the only devices a model downstream of it rebuilds (every device when this table is
    empty). No look-back is needed: built_at is written by our own runs, in order. -#}
{% macro devices_rebuilt_upstream(sessionized_relation) -%}
    {{ return(adapter.dispatch('devices_rebuilt_upstream', 'audiences')(sessionized_relation)) }}
{%- endmacro %}

{% macro default__devices_rebuilt_upstream(sessionized_relation) -%}
    {%- set latest = latest_in_this('built_at') -%}
    select distinct anonymous_id
    from {{ sessionized_relation }}
    {%- if latest is not none %}
    where built_at > {{ timestamp_literal(latest) }}
    {%- endif %}
{%- endmacro %}

{% macro spark__devices_rebuilt_upstream(sessionized_relation) -%}
    {{ return(spark_devices_of_touched_buckets(
        sessionized_relation, default__devices_rebuilt_upstream(sessionized_relation)
    )) }}
{%- endmacro %}

{#- Spark: insert_overwrite replaces whole partitions (device buckets), so the run selects
    every device of each bucket that holds a touched device, or a device of this table on
    which an erased person was identified since (their rows leave with the rebuild: Spark
    has no row-level delete for the post-hook delete_erased_devices). -#}
{% macro spark_devices_of_touched_buckets(events_relation, touched_devices_sql) -%}
    select distinct anonymous_id
    from {{ events_relation }}
    where {{ device_bucket('anonymous_id') }} in (
        select {{ device_bucket('anonymous_id') }}
        from ({{ touched_devices_sql }}) as touched
        union
        select device_bucket
        from {{ this }}
        where anonymous_id in (
            select anonymous_id from {{ ref('int_identity__device_users') }}
            where has_erased_user
        )
    )
{%- endmacro %}

{#- Post-hook: devices on which an erased person was ever identified leave the table, so an
    erasure request that arrives after the rows were built still removes them. -#}
{% macro delete_erased_devices() -%}
    {%- if is_incremental() and target.type != 'spark' -%}
        delete from {{ this }}
        where anonymous_id in (
            select anonymous_id from {{ ref('int_identity__device_users') }}
            where has_erased_user
        )
    {%- else -%}
        select 1 as erased_devices_already_excluded
    {%- endif -%}
{%- endmacro %}
