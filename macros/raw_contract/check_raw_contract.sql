{#- The raw source contract (docs/contracts/foundation-models.md): the columns every raw table must have,
    and which of them hold timestamps; optional columns (optional_raw_columns.sql) may be
    absent but must have their type when present; optional tables (optional_raw_tables.sql)
    may be absent but must have their columns when present. Checked once at the start of every dbt
    invocation that runs SQL, before any model is written, so bad input stops the run with a
    message naming the table and the column and nothing is half-built. -#}
{% macro raw_contract() -%}
    {{ return({
        'events': {
            'key': 'event_id',
            'columns': ['event_id', 'anonymous_id', 'user_id', 'session_id', 'event_type',
                        'page_type', 'page_url', 'product_id', 'product_category',
                        'engaged_seconds', 'device_type', 'browser', 'os', 'country', 'region',
                        'city', 'referrer', 'utm_source', 'utm_medium', 'utm_campaign',
                        'occurred_at', 'loaded_at'],
            'timestamps': ['occurred_at', 'loaded_at'],
        },
        'orders': {
            'key': 'order_id',
            'columns': ['order_id', 'user_id', 'ordered_at', 'status', 'order_total', 'currency',
                        'loaded_at'],
            'timestamps': ['ordered_at', 'loaded_at'],
        },
        'order_items': {
            'key': 'order_id',
            'columns': ['order_id', 'line_number', 'product_id', 'product_category', 'quantity',
                        'unit_price'],
            'timestamps': [],
        },
        'customers': {
            'key': 'user_id',
            'columns': ['user_id', 'email', 'phone', 'first_name', 'last_name', 'birth_date',
                        'gender', 'country', 'region', 'city', 'postal_code', 'signup_at',
                        'updated_at', 'email_consent', 'ads_consent', 'consent_updated_at',
                        'deleted_at'],
            'timestamps': ['signup_at', 'updated_at', 'consent_updated_at', 'deleted_at'],
        },
        'email_events': {
            'key': 'event_id',
            'columns': ['event_id', 'user_id', 'campaign_id', 'event_type', 'occurred_at',
                        'loaded_at'],
            'timestamps': ['occurred_at', 'loaded_at'],
        },
        'survey_responses': {
            'key': 'response_id',
            'columns': ['response_id', 'user_id', 'email', 'question_key', 'answer',
                        'answered_at'],
            'timestamps': ['answered_at'],
        },
    }) }}
{%- endmacro %}

{% macro check_raw_contract() -%}
    {%- if not execute or not var('check_raw_contract', true) -%}
        {{ return('') }}
    {%- endif -%}
    {%- if flags.WHICH not in ['build', 'run', 'test', 'snapshot', 'compile', 'docs', 'seed', 'show'] -%}
        {{ return('') }}
    {%- endif -%}
    {%- set database = var('raw_database') or target.database -%}
    {%- set schema = var('raw_schema') -%}
    {%- set problems = [] -%}
    {%- for table, spec in raw_contract().items() -%}
        {%- set relation = adapter.get_relation(database=database, schema=schema, identifier=table) -%}
        {%- if relation is none and table in optional_raw_tables() -%}
            {#- an optional table (optional_raw_tables.sql) may be absent -#}
        {%- elif relation is none -%}
            {%- do problems.append("table " ~ schema ~ "." ~ table ~ " does not exist (load it, or run `audiences generate` for demo data)") -%}
        {%- else -%}
            {%- set columns = adapter.get_columns_in_relation(relation) -%}
            {%- set by_name = {} -%}
            {%- for column in columns -%}
                {%- do by_name.update({column.name | lower: column}) -%}
            {%- endfor -%}
            {%- set missing = [] -%}
            {%- for name in spec['columns'] if name not in by_name -%}
                {%- do missing.append(name) -%}
            {%- endfor -%}
            {%- if missing -%}
                {%- do problems.append("table " ~ schema ~ "." ~ table ~ " is missing column(s): " ~ missing | join(', ')) -%}
            {%- endif -%}
            {%- for name, kind in optional_raw_columns().get(table, {}).items()
                if name in by_name and not raw_column_has_kind(by_name[name], kind) -%}
                {%- do problems.append(
                    "column " ~ schema ~ "." ~ table ~ "." ~ name ~ " has type " ~ by_name[name].dtype
                    ~ "; this optional column must be " ~ ("text" if kind == 'string' else "an integer")
                    ~ " (or leave it out of the table)") -%}
            {%- endfor -%}
            {%- for name in spec['timestamps'] if name in by_name and by_name[name].is_string() -%}
                {%- set check -%}
                    select
                        count(*) as bad_values,
                        min({{ adapter.quote(name) }}) as example_value,
                        min({{ adapter.quote(spec['key']) }}) as example_key
                    from {{ relation }}
                    where {{ adapter.quote(name) }} is not null
                        and not ({{ is_parsable_timestamp(adapter.quote(name)) }})
                {%- endset -%}
                {%- set row = run_query(check).rows[0] -%}
                {%- if row[0] > 0 -%}
                    {%- do problems.append(
                        "column " ~ schema ~ "." ~ table ~ "." ~ name ~ " has " ~ row[0]
                        ~ " value(s) that are not timestamps, e.g. '" ~ row[1] ~ "' (" ~ spec['key']
                        ~ " = '" ~ row[2] ~ "'); expected ISO 8601 UTC such as 2026-11-24 13:05:00") -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}
    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            "Raw source contract violated; nothing was built:\n  - " ~ problems | join("\n  - ")) }}
    {%- endif -%}
    {{ return('') }}
{%- endmacro %}

{% macro is_parsable_timestamp(expression) -%}
    {{ return(adapter.dispatch('is_parsable_timestamp', 'audiences')(expression)) }}
{%- endmacro %}

{% macro default__is_parsable_timestamp(expression) -%}
    cast({{ expression }} as {{ dbt.type_string() }})
        ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?(Z|[+-]00(:?00)?)?$'
{%- endmacro %}

{% macro duckdb__is_parsable_timestamp(expression) -%}
    try_cast({{ expression }} as timestamp) is not null
{%- endmacro %}

{% macro spark__is_parsable_timestamp(expression) -%}
    cast({{ expression }} as {{ dbt.type_string() }})
        rlike '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)?)?(Z)?$'
{%- endmacro %}
