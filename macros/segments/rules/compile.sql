{#- Segment rule language v2: compiles every declared custom segment (docs/segments.md) into
    the SQL of the model custom_segments, and into the per-condition explanation that
    `audiences explain` prints. -#}


{#- The type family of a column from its contract data_type. -#}
{% macro segment_rule_type_family(data_type) -%}
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

{#- One literal value of a column condition as SQL, checked against the column's type family. -#}
{% macro segment_rule_literal(segment_name, column, family, value) -%}
    {%- if value is none -%}
        {{ segment_rule_error(segment_name, "column '" ~ column ~ "' compared with null; use 'is null' / 'is not null'") }}
    {%- endif -%}
    {%- if family == 'boolean' -%}
        {%- if value is not sameas true and value is not sameas false -%}
            {{ segment_rule_error(segment_name, "type mismatch: column '" ~ column ~ "' is boolean, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return('true' if value else 'false') }}
    {%- elif family == 'numeric' -%}
        {%- if value is sameas true or value is sameas false or value is not number -%}
            {{ segment_rule_error(segment_name, "type mismatch: column '" ~ column ~ "' is numeric, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return(value | string) }}
    {%- elif family == 'text' -%}
        {%- if value is not string -%}
            {{ segment_rule_error(segment_name, "type mismatch: column '" ~ column ~ "' is text, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return("'" ~ value | replace("'", "''") ~ "'") }}
    {%- elif family == 'temporal' -%}
        {%- set text = value | string | trim -%}
        {%- if value is number or not modules.re.match('^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$', text) -%}
            {{ segment_rule_error(segment_name, "type mismatch: column '" ~ column ~ "' is a date/timestamp, got " ~ value | tojson ~ " (use an ISO date such as 2026-01-31)") }}
        {%- endif -%}
        {{ return("cast('" ~ text | replace('T', ' ') ~ "' as " ~ dbt.type_timestamp() ~ ")") }}
    {%- else -%}
        {{ segment_rule_error(segment_name, "column '" ~ column ~ "' has no usable data_type in its model's contract") }}
    {%- endif -%}
{%- endmacro %}

{#- {column: data_type} of the models rules may read columns from (var
    segment_rule_column_models, the first is the person spine); the first model naming a column
    owns it. Also {column: model}. -#}
{% macro segment_rule_columns() -%}
    {%- set columns = {} -%}
    {%- set owners = {} -%}
    {%- for model_name in var('segment_rule_column_models') -%}
        {%- if graph.get('nodes') is none -%}
            {{ exceptions.raise_compiler_error("segment_rule_columns() needs the graph: a dbt unit test of custom_segments must override it (macros: segment_rule_columns: {types: {column: data_type}, owners: {column: model}})") }}
        {%- else -%}
            {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ model_name) -%}
            {%- if node is none -%}
                {{ exceptions.raise_compiler_error("var segment_rule_column_models names '" ~ model_name ~ "', which is not a model of this project") }}
            {%- endif -%}
            {%- set found = [] -%}
            {%- for name, column in node.columns.items() -%}
                {%- do found.append((name | lower, column.data_type)) -%}
            {%- endfor -%}
        {%- endif -%}
        {%- for name, data_type in found if name not in columns -%}
            {%- do columns.update({name: data_type}) -%}
            {%- do owners.update({name: model_name}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {#- the person's RFM segment name, from the rfm family mart (rfm_champions -> champions) -#}
    {%- if 'rfm_segment' not in columns -%}
        {%- do columns.update({'rfm_segment': 'text'}) -%}
        {%- do owners.update({'rfm_segment': 'rfm_segments'}) -%}
    {%- endif -%}
    {{ return({'types': columns, 'owners': owners}) }}
{%- endmacro %}

{#- Validates every declared segment; returns them in dependency order (a segment after the
    custom segments it references) as [{name, description, formula, leaves, references, rule}],
    plus what the SQL needs. Raises a compilation error naming the file, the segment and the
    offending token on any mistake, including a reference cycle. -#}
{% macro compile_custom_segments(declared=none, builtin=false) -%}
    {%- set result = {'segments': [], 'needs': {}, 'lookbacks': [], 'session_lookbacks': [], 'profile_columns': []} -%}
    {%- if not execute -%}{{ return(result) }}{%- endif -%}
    {%- set column_info = segment_rule_columns() -%}
    {%- set declared = segment_rules_declared() if declared is none else declared -%}
    {%- set names = [] -%}
    {%- for segment in declared -%}
        {%- set name = (segment.get('name') if segment is mapping else none) or ('#' ~ loop.index) -%}
        {%- if segment is not mapping -%}
            {{ segment_rule_error(name, "each segment must be a mapping with name, description and rule") }}
        {%- endif -%}
        {%- if not modules.re.match('^[a-z][a-z0-9_]*$', name | string) -%}
            {{ segment_rule_error(name, "the name must be snake_case (lower-case letters, digits, underscores)") }}
        {%- endif -%}
        {%- if name in names -%}
            {{ segment_rule_error(name, "declared twice") }}
        {%- endif -%}
        {%- if name in builtin_segment_keys().exact and not builtin -%}
            {{ segment_rule_error(name, "the name is a built-in segment key; choose another") }}
        {%- endif -%}
        {%- do names.append(name) -%}
        {%- set unknown = segment.keys() | reject('in', ['name', 'description', 'rule']) | list -%}
        {%- if unknown | length > 0 -%}
            {{ segment_rule_error(name, "unknown key(s) " ~ unknown | tojson ~ " (a segment has name, description and rule)") }}
        {%- endif -%}
        {%- if not segment.get('description') -%}
            {{ segment_rule_error(name, "a description is required (it documents the segment key)") }}
        {%- endif -%}
        {%- if 'rule' not in segment -%}
            {{ segment_rule_error(name, "a rule is required") }}
        {%- endif -%}
    {%- endfor -%}

    {%- set compiled = {} -%}
    {%- for segment in declared -%}
        {%- set ctx = {
            'segment': segment.name, 'columns': column_info.types,
            'custom_names': [] if builtin else names,
            'leaves': [], 'references': [], 'needs': result.needs, 'lookbacks': result.lookbacks,
            'session_lookbacks': result.session_lookbacks, 'profile_columns': result.profile_columns} -%}
        {%- set formula = segment_rule_formula(ctx, segment.rule) -%}
        {%- do compiled.update({segment.name: {
            'name': segment.name, 'description': segment.description, 'rule': segment.rule,
            'formula': formula, 'leaves': ctx.leaves, 'references': ctx.references}}) -%}
    {%- endfor -%}

    {#- dependency order; what cannot be placed after len(names) passes is in a cycle -#}
    {%- set ordered = [] -%}
    {%- for pass in names -%}
        {%- for name in names if name not in ordered -%}
            {%- if compiled[name].references | reject('in', ordered) | list | length == 0 -%}
                {%- do ordered.append(name) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set stuck = names | reject('in', ordered) | list -%}
    {%- if stuck | length > 0 -%}
        {%- set path = [stuck[0]] -%}
        {%- for step in names -%}
            {%- if path | length == path | unique | list | length -%}
                {%- set next = compiled[path | last].references | reject('in', ordered) | list | first -%}
                {%- do path.append(next) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set start = path.index(path | last) -%}
        {{ segment_rule_error(path | last, "segment reference cycle: " ~ path[start:] | join(' -> ')) }}
    {%- endif -%}
    {%- for name in ordered -%}
        {%- do result.segments.append(compiled[name]) -%}
    {%- endfor -%}
    {{ return(result) }}
{%- endmacro %}

{#- The relations the compiled SQL may read: every one is a dependency of custom_segments
    whatever the rules use (dbt learns dependencies at parse time, before the rules compile). -#}
{% macro segment_rule_relations() -%}
    {%- set relations = {
        'events': ref('int_tracker__sessionized_events'),
        'page_views': ref('fct_page_views'),
        'sessions': ref('fct_sessions'),
        'time_zone_offsets': ref('time_zone_offsets'),
        'rfm_segments': ref('rfm_segments'),
        'families': []} -%}
    {%- for model_name in var('segment_rule_column_models') -%}
        {%- do relations.update({'column_model_' ~ loop.index0: ref(model_name)}) -%}
    {%- endfor -%}
    {%- for model_name in builtin_segment_family_models() -%}
        {%- do relations.families.append(ref(model_name)) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}

{#- The CTEs shared by every segment: profile (one row per person with the columns rules
    read), scoped_events / scoped_sessions (only the window the rules need, up to as_of),
    builtin_memberships (the built-in families, for references). person_filter: optional SQL
    literal restricting everything to one person (used by `audiences explain`). -#}
{% macro segment_rule_shared_ctes(compiled, person_filter=none) -%}
    {%- set relations = segment_rule_relations() -%}
    {%- set column_info = segment_rule_columns() -%}
    {%- set models = var('segment_rule_column_models') -%}
    {%- set needs = compiled.needs -%}
    {%- set only_person = (' and person_id = ' ~ person_filter) if person_filter is not none else '' -%}
    {%- set ctes = [] -%}
    {%- set profile -%}
        profile as (
            select
                m0.person_id
                {%- for column in compiled.profile_columns %},
                m{{ models.index(column_info.owners[column]) if column_info.owners[column] in models else models | length }}.{{ column }}
                {%- endfor %}
            from {{ relations.column_model_0 }} as m0
            {%- for model_name in models[1:] %}
            left join {{ relations['column_model_' ~ loop.index] }} as m{{ loop.index }}
                on m0.person_id = m{{ loop.index }}.person_id
            {%- endfor %}
            {%- if 'rfm_segment' in compiled.profile_columns and column_info.owners.rfm_segment == 'rfm_segments' %}
            left join (
                select person_id, replace(segment_key, 'rfm_', '') as rfm_segment
                from {{ relations.rfm_segments }}
            ) as m{{ models | length }}
                on m0.person_id = m{{ models | length }}.person_id
            {%- endif %}
            where 1 = 1{{ (' and m0.person_id = ' ~ person_filter) if person_filter is not none else '' }}
        )
    {%- endset -%}
    {%- do ctes.append(profile) -%}
    {%- if needs.get('events') -%}
        {%- set lookback = compiled.lookbacks | max -%}
        {%- set scoped -%}
            scoped_events as (
                select
                    events.person_id,
                    events.event_id,
                    events.session_id,
                    events.event_type,
                    events.page_type,
                    events.page_url,
                    events.product_id,
                    events.product_category,
                    events.device_type,
                    events.browser,
                    events.country,
                    events.utm_source,
                    events.utm_medium,
                    events.utm_campaign,
                    events.occurred_at
                    {%- if needs.get('dwell') %},
                    page_views.dwell_seconds
                    {%- endif %}
                    {%- if needs.get('local_time') %},
                    cast(extract(hour from {{ local_timestamp('events.occurred_at', 'sessions.time_zone', 'offsets') }}) as {{ dbt.type_int() }}) as local_hour,
                    {{ iso_day_of_week(local_timestamp('events.occurred_at', 'sessions.time_zone', 'offsets')) }} as local_day_of_week
                    {%- endif %}
                from {{ relations.events }} as events
                {%- if needs.get('dwell') %}
                left join {{ relations.page_views }} as page_views
                    on events.event_id = page_views.page_view_id and events.session_id = page_views.session_id
                {%- endif %}
                {%- if needs.get('local_time') %}
                left join {{ relations.sessions }} as sessions
                    on events.session_id = sessions.session_id
                {{ join_utc_offset('events.occurred_at', 'sessions.time_zone', 'offsets', relations.time_zone_offsets) }}
                {%- endif %}
                where
                    {{ is_within_last('events.occurred_at', lookback, 'minute') }}
                    {{ only_person | replace('person_id', 'events.person_id') }}
            )
        {%- endset -%}
        {%- do ctes.append(scoped) -%}
    {%- endif -%}
    {%- if needs.get('sessions') -%}
        {%- set lookback = compiled.session_lookbacks | max -%}
        {%- set scoped -%}
            scoped_sessions as (
                select
                    person_id,
                    session_id,
                    started_at,
                    duration_seconds,
                    page_views,
                    device_type,
                    browser,
                    country,
                    utm_source,
                    utm_medium,
                    utm_campaign,
                    landing_page_type,
                    local_start_hour,
                    local_day_of_week
                from {{ relations.sessions }}
                where {{ is_within_last('started_at', lookback, 'minute') }}{{ only_person }}
            )
        {%- endset -%}
        {%- do ctes.append(scoped) -%}
    {%- endif -%}
    {%- if needs.get('builtin') -%}
        {%- set builtin -%}
            builtin_memberships as (
                {%- for relation in relations.families %}
                select person_id, segment_key from {{ relation }}
                where 1 = 1{{ only_person }}
                {%- if not loop.last %}
                union all
                {%- endif %}
                {%- endfor %}
            )
        {%- endset -%}
        {%- do ctes.append(builtin) -%}
    {%- endif -%}
    {{ return(ctes) }}
{%- endmacro %}

{#- The CTEs of one segment: its leaves, then segment_<name> (the members). -#}
{% macro segment_rule_segment_ctes(segment) -%}
    {%- set ctes = [] -%}
    {%- for leaf in segment.leaves if leaf.kind != 'column' -%}
        {%- if leaf.get('ctes') -%}
            {%- do ctes.append(leaf.ctes) -%}
        {%- else -%}
            {%- do ctes.append(leaf.cte ~ ' as (\n' ~ leaf.sql ~ '\n)') -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set members -%}
        segment_{{ segment.name }} as (
            select profile.person_id
            from profile
            {%- for leaf in segment.leaves if leaf.kind != 'column' %}
            left join {{ leaf.cte }} on profile.person_id = {{ leaf.cte }}.person_id
            {%- endfor %}
            where {{ segment.formula }}
        )
    {%- endset -%}
    {%- do ctes.append(members) -%}
    {{ return(ctes) }}
{%- endmacro %}

{#- `dbt run-operation check_segment_rules --args '{segments: [...]}'`: compiles the given
    segments as if they were declared in the segments file; raises the same errors. -#}
{% macro check_segment_rules(segments) -%}
    {%- set compiled = compile_custom_segments(segments) -%}
    {{ print('segment rules ok: ' ~ compiled.segments | map(attribute='name') | join(', ')) }}
{%- endmacro %}
