{#- Spark has no COPY FROM a client: `audiences load-spark` writes each raw table of the
    DuckDB warehouse to a Parquet file and calls this operation, which replaces the raw
    tables in the Spark metastore with typed copies of the files:

      dbt run-operation load_raw_files --target spark \
          --args '{path: /abs/dir, tables: {events: [[event_id, string], ...], ...}}'

    `tables` maps each table to its [column, Spark type] pairs, in order. Not atomic across
    tables (Spark has no multi-table transactions); a failed load is simply re-run. -#}
{% macro load_raw_files(path, tables, schema=none, file_format='parquet') -%}
    {{ return(adapter.dispatch('load_raw_files', 'audiences')(path, tables, schema, file_format)) }}
{%- endmacro %}

{% macro default__load_raw_files(path, tables, schema, file_format) -%}
    {{ exceptions.raise_compiler_error(
        "load_raw_files is for Spark; on " ~ target.type ~ " load the raw tables with "
        ~ "`audiences load-postgres` (PostgreSQL) or `audiences generate` (DuckDB)") }}
{%- endmacro %}

{% macro spark__load_raw_files(path, tables, schema, file_format) -%}
    {%- set schema = schema or var('raw_schema') -%}
    {%- do run_query('create schema if not exists ' ~ schema) -%}
    {%- for table, columns in tables.items() -%}
        {%- set relation = schema ~ '.' ~ table -%}
        {%- set select_list = [] -%}
        {%- for column in columns -%}
            {%- do select_list.append(
                'cast(`' ~ column[0] ~ '` as ' ~ column[1] ~ ') as `' ~ column[0] ~ '`') -%}
        {%- endfor -%}
        {%- do run_query('drop table if exists ' ~ relation) -%}
        {%- do run_query(
            'create table ' ~ relation ~ ' using ' ~ file_format ~ ' as select '
            ~ select_list | join(', ') ~ ' from ' ~ file_format ~ '.`' ~ path ~ '/' ~ table
            ~ '.' ~ file_format ~ '`') -%}
        {%- set rows = run_query('select count(*) from ' ~ relation).columns[0].values()[0] -%}
        {{ log('loaded ' ~ relation ~ ': ' ~ rows ~ ' rows', info=true) }}
    {%- endfor -%}
{%- endmacro %}
