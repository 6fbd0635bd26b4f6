{#- Seeds on Spark: dbt-spark's session connection formats a bound None as the text 'None',
    so an empty CSV cell (geo_time_zones' country default rows have no region) arrived as the
    string 'None' instead of null. This version of the adapter's row loader writes a typed
    null literal for empty cells and binds every other value as the adapter does. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set bindings = [] -%}
        {%- set tuples = [] -%}
        {%- for row in chunk -%}
            {%- set cells = [] -%}
            {%- for value in row -%}
                {%- set inferred_type = adapter.convert_type(agate_table, loop.index0) -%}
                {%- set type = column_override.get(agate_table.column_names[loop.index0], inferred_type) -%}
                {%- if value is none -%}
                    {%- do cells.append('cast(null as ' ~ type ~ ')') -%}
                {%- else -%}
                    {%- do cells.append('cast(' ~ get_binding_char() ~ ' as ' ~ type ~ ')') -%}
                    {%- do bindings.append(value) -%}
                {%- endif -%}
            {%- endfor -%}
            {%- do tuples.append('(' ~ cells | join(', ') ~ ')') -%}
        {%- endfor -%}
        {%- set sql = 'insert into ' ~ this.render() ~ ' values ' ~ tuples | join(', ') -%}
        {%- do adapter.add_query(sql, bindings=bindings, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0]) }}
{% endmacro %}
