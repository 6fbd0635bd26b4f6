{#- Custom segments: rules declared by analytics engineers in segments/custom_segments.yml
    (under the meta of model custom_segments) and compiled to SQL over dim_users.

    A rule is either a condition  {column: <dim_users column>, op: <operator>, value: <value>}
    or a group  {all: [rules]}  /  {any: [rules]}  /  {not: rule}.
    Operators: =, !=, >, >=, <, <=, in, not in, between, is null, is not null.

    Checked when dbt compiles (graph available): an unknown column, an unknown operator, a
    value of the wrong type for the column (as declared in the dim_users contract) or a
    malformed rule raises a compilation error naming the file and the segment. -#}


{#- The node that carries the declarations (its properties file is the segments file). -#}
{% macro custom_segments_node() -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and node.name == 'custom_segments' and node.package_name == project_name -%}
        {{ return(node) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- The declared segments (a list of dicts), [] before the graph is loaded. -#}
{% macro custom_segments() -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set node = custom_segments_node() -%}
    {%- if node is none -%}{{ return([]) }}{%- endif -%}
    {%- set meta = node.config.get('meta', {}) or {} -%}
    {{ return(meta.get('custom_segments', []) or []) }}
{%- endmacro %}

{#- Path of the file declaring the segments, relative to the project root. -#}
{% macro custom_segments_file() -%}
    {%- set node = custom_segments_node() if execute else none -%}
    {%- if node is none or not node.patch_path -%}{{ return('segments/custom_segments.yml') }}{%- endif -%}
    {{ return(node.patch_path.split('://')[-1]) }}
{%- endmacro %}

{% macro custom_segment_error(segment_name, message) -%}
    {{ exceptions.raise_compiler_error(
        "Custom segment '" ~ segment_name ~ "' in " ~ custom_segments_file() ~ ": " ~ message) }}
{%- endmacro %}

{#- The type family of a dim_users column from its contract data_type. -#}
{% macro custom_segment_type_family(data_type) -%}
    {%- set t = (data_type or '') | lower | trim -%}
    {%- if t.startswith('bool') -%}{{ return('boolean') }}
    {%- elif t.startswith('timestamp') or t == 'date' or t.startswith('datetime') -%}{{ return('temporal') }}
    {%- elif t in ['text', 'string'] or t.startswith('varchar') or t.startswith('char')
            or t.startswith('character') -%}{{ return('text') }}
    {%- elif t.startswith('int') or t in ['bigint', 'smallint', 'tinyint', 'hugeint', 'double',
            'double precision', 'float', 'float4', 'float8', 'real']
            or t.startswith('numeric') or t.startswith('decimal') -%}{{ return('numeric') }}
    {%- else -%}{{ return('unknown') }}
    {%- endif -%}
{%- endmacro %}

{#- One literal value as SQL, checked against the column's type family. -#}
{% macro custom_segment_literal(segment_name, column, family, value) -%}
    {%- if value is none -%}
        {{ custom_segment_error(segment_name, "column '" ~ column ~ "' compared with null; use 'is null' / 'is not null'") }}
    {%- endif -%}
    {%- if family == 'boolean' -%}
        {%- if value is not sameas true and value is not sameas false -%}
            {{ custom_segment_error(segment_name, "type mismatch: column '" ~ column ~ "' is boolean, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return('true' if value else 'false') }}
    {%- elif family == 'numeric' -%}
        {%- if value is sameas true or value is sameas false or value is not number -%}
            {{ custom_segment_error(segment_name, "type mismatch: column '" ~ column ~ "' is numeric, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return(value | string) }}
    {%- elif family == 'text' -%}
        {%- if value is not string -%}
            {{ custom_segment_error(segment_name, "type mismatch: column '" ~ column ~ "' is text, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return("'" ~ value | replace("'", "''") ~ "'") }}
    {%- elif family == 'temporal' -%}
        {%- set text = value | string | trim -%}
        {%- if value is number or not modules.re.match('^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$', text) -%}
            {{ custom_segment_error(segment_name, "type mismatch: column '" ~ column ~ "' is a date/timestamp, got " ~ value | tojson ~ " (use an ISO date such as 2026-01-31)") }}
        {%- endif -%}
        {{ return("cast('" ~ text | replace('T', ' ') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- else -%}
        {{ custom_segment_error(segment_name, "column '" ~ column ~ "' has no usable data_type in the dim_users contract") }}
    {%- endif -%}
{%- endmacro %}

{#- SQL for one rule node (recursive). columns: {name: data_type} of dim_users. -#}
{% macro custom_segment_rule_sql(segment_name, rule, columns) -%}
    {%- set comparison_ops = ['=', '!=', '>', '>=', '<', '<='] -%}
    {%- set all_ops = comparison_ops + ['in', 'not in', 'between', 'is null', 'is not null'] -%}
    {%- if rule is not mapping -%}
        {{ custom_segment_error(segment_name, "a rule must be a mapping with 'all', 'any', 'not' or 'column', got " ~ rule | tojson) }}
    {%- endif -%}
    {%- set group_keys = rule.keys() | select('in', ['all', 'any', 'not']) | list -%}
    {%- if group_keys | length > 0 -%}
        {%- if rule | length != 1 -%}
            {{ custom_segment_error(segment_name, "a group must have exactly one key (all, any or not), got keys " ~ rule.keys() | list | tojson) }}
        {%- endif -%}
        {%- set key = group_keys[0] -%}
        {%- if key == 'not' -%}
            {{ return('(not ' ~ custom_segment_rule_sql(segment_name, rule['not'], columns) ~ ')') }}
        {%- endif -%}
        {%- set children = rule[key] -%}
        {%- if children is string or children is mapping or children is not iterable or children | length == 0 -%}
            {{ custom_segment_error(segment_name, "'" ~ key ~ "' needs a non-empty list of rules") }}
        {%- endif -%}
        {%- set parts = [] -%}
        {%- for child in children -%}
            {%- do parts.append(custom_segment_rule_sql(segment_name, child, columns)) -%}
        {%- endfor -%}
        {{ return('(' ~ parts | join(' and ' if key == 'all' else ' or ') ~ ')') }}
    {%- endif -%}

    {%- if 'column' not in rule or 'op' not in rule -%}
        {{ custom_segment_error(segment_name, "a condition needs 'column' and 'op' (or use all / any / not), got " ~ rule | tojson) }}
    {%- endif -%}
    {%- set unknown_keys = rule.keys() | reject('in', ['column', 'op', 'value']) | list -%}
    {%- if unknown_keys | length > 0 -%}
        {{ custom_segment_error(segment_name, "unknown key(s) " ~ unknown_keys | tojson ~ " in condition " ~ rule | tojson) }}
    {%- endif -%}
    {%- set column = rule['column'] | string -%}
    {%- set op = rule['op'] | string | lower | trim -%}
    {%- if column not in columns -%}
        {{ custom_segment_error(segment_name, "unknown column '" ~ column ~ "' (not a column of dim_users)") }}
    {%- endif -%}
    {%- if op not in all_ops -%}
        {{ custom_segment_error(segment_name, "unknown operator '" ~ rule['op'] ~ "' on column '" ~ column ~ "' (allowed: " ~ all_ops | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set family = custom_segment_type_family(columns[column]) -%}
    {%- set value = rule.get('value') -%}

    {%- if op in ['is null', 'is not null'] -%}
        {%- if value is not none -%}
            {{ custom_segment_error(segment_name, "operator '" ~ op ~ "' on column '" ~ column ~ "' takes no value") }}
        {%- endif -%}
        {{ return('(' ~ column ~ ' ' ~ op ~ ')') }}
    {%- elif op in ['in', 'not in'] -%}
        {%- if value is string or value is mapping or value is not iterable or value | length == 0 -%}
            {{ custom_segment_error(segment_name, "operator '" ~ op ~ "' on column '" ~ column ~ "' needs a non-empty list value") }}
        {%- endif -%}
        {%- set literals = [] -%}
        {%- for item in value -%}
            {%- do literals.append(custom_segment_literal(segment_name, column, family, item)) -%}
        {%- endfor -%}
        {{ return('(' ~ column ~ ' ' ~ op ~ ' (' ~ literals | join(', ') ~ '))') }}
    {%- elif op == 'between' -%}
        {%- if value is string or value is mapping or value is not iterable or value | length != 2 -%}
            {{ custom_segment_error(segment_name, "operator 'between' on column '" ~ column ~ "' needs a list of two values [low, high]") }}
        {%- endif -%}
        {{ return('(' ~ column ~ ' between ' ~ custom_segment_literal(segment_name, column, family, value[0])
            ~ ' and ' ~ custom_segment_literal(segment_name, column, family, value[1]) ~ ')') }}
    {%- else -%}
        {%- if family == 'boolean' and op not in ['=', '!='] -%}
            {{ custom_segment_error(segment_name, "type mismatch: operator '" ~ op ~ "' cannot compare boolean column '" ~ column ~ "'") }}
        {%- endif -%}
        {{ return('(' ~ column ~ ' ' ~ ('<>' if op == '!=' else op) ~ ' ' ~ custom_segment_literal(segment_name, column, family, value) ~ ')') }}
    {%- endif -%}
{%- endmacro %}

{#- Validates every declared segment and returns [{name, description, sql}, ...]. -#}
{% macro compile_custom_segments() -%}
    {%- set compiled = [] -%}
    {%- if not execute -%}{{ return(compiled) }}{%- endif -%}
    {%- set dim_users = graph.nodes.get('model.' ~ project_name ~ '.dim_users') -%}
    {%- set columns = {} -%}
    {%- if dim_users is not none -%}
        {%- for name, column in dim_users.columns.items() -%}
            {%- do columns.update({name | lower: column.data_type}) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set seen = [] -%}
    {%- for segment in custom_segments() -%}
        {%- set name = (segment.get('name') if segment is mapping else none) or ('#' ~ loop.index) -%}
        {%- if segment is not mapping -%}
            {{ custom_segment_error(name, "each segment must be a mapping with name, description and rule") }}
        {%- endif -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]*$', name | string) -%}
            {{ custom_segment_error(name, "the name must be snake_case (lower-case letters, digits, underscores)") }}
        {%- endif -%}
        {%- if name in seen -%}
            {{ custom_segment_error(name, "declared twice") }}
        {%- endif -%}
        {%- do seen.append(name) -%}
        {%- if not segment.get('description') -%}
            {{ custom_segment_error(name, "a description is required (it documents the segment key)") }}
        {%- endif -%}
        {%- if 'rule' not in segment -%}
            {{ custom_segment_error(name, "a rule is required") }}
        {%- endif -%}
        {%- do compiled.append({
            'name': name,
            'description': segment['description'],
            'sql': custom_segment_rule_sql(name, segment['rule'], columns)
        }) -%}
    {%- endfor -%}
    {{ return(compiled) }}
{%- endmacro %}
