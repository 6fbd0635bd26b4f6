{#- Optional columns of the raw source contract: trackers that record them fill them, others
    leave them out. Staging reads them with raw_column_or_null(), so a raw table without them
    still builds (the column is null downstream); check_raw_contract() rejects one that is
    present with the wrong type. Kinds: string, integer. -#}
{% macro optional_raw_columns() -%}
    {{ return({
        'events': {
            'search_term': 'string',
            'scroll_depth_percent': 'integer',
        },
    }) }}
{%- endmacro %}

{#- `cast(<column> as <data_type>)` when the raw table has the column, else a typed null.
    Looked up in the warehouse when dbt executes (at parse time the null is returned). -#}
{% macro raw_column_or_null(table, column, data_type) -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- set relation = adapter.get_relation(
            database=var('raw_database') or target.database,
            schema=var('raw_schema'),
            identifier=table) -%}
        {%- if relation is not none -%}
            {%- for existing in adapter.get_columns_in_relation(relation)
                if existing.name | lower == column -%}
                {%- do present.append(existing) -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endif -%}
    {%- if present -%}
        cast({{ column }} as {{ data_type }})
    {%- else -%}
        cast(null as {{ data_type }})
    {%- endif -%}
{%- endmacro %}

{#- True when a warehouse column type (as get_columns_in_relation reports it) is of `kind`. -#}
{% macro raw_column_has_kind(column, kind) -%}
    {%- set dtype = column.dtype | lower | trim -%}
    {%- set base = dtype.split('(')[0] | trim -%}
    {%- if kind == 'string' -%}
        {{ return(column.is_string() or base in ['string', 'text', 'varchar', 'character varying', 'char', 'character', 'bpchar']) }}
    {%- elif kind == 'integer' -%}
        {{ return(base in ['tinyint', 'smallint', 'integer', 'int', 'bigint', 'hugeint', 'int1',
                           'int2', 'int4', 'int8', 'short', 'long', 'byte', 'utinyint',
                           'usmallint', 'uinteger', 'ubigint']) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("raw_column_has_kind: unknown kind " ~ kind) }}
    {%- endif -%}
{%- endmacro %}
