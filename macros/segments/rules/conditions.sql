{#- Segment rule language v2: validation of one rule tree and its translation into a boolean
    SQL formula over "leaves" (docs/segments.md). Each leaf is one condition:

      column     a column of dim_users or of a score mart          -> a predicate on `profile`
      events     count / dwell / distinct over matching events      -> a per-person CTE
      sessions   count / share / distinct days of matching sessions -> a per-person CTE
      sequence   A then B within T [then not C within T]            -> a per-person CTE
      segment    in_segment / not_in_segment another segment key    -> a per-person CTE

    Every CTE leaf yields (person_id, value, passed 0/1) for the people it has rows for; a
    person without rows gets the leaf's `default_passed` (computed here from value 0, or false
    for shares and sequences). Every leaf is two-valued: a condition on a missing (null) value is
    false, and `not` of it is true. -#}


{#- Translates a rule (mapping) into a SQL boolean; appends its leaves to ctx.leaves. -#}
{% macro segment_rule_formula(ctx, rule) -%}
    {%- set name = ctx.segment -%}
    {%- if rule is not mapping -%}
        {{ segment_rule_error(name, "a rule must be a mapping (all, any, not, column, events, sessions, sequence, in_segment, not_in_segment), got " ~ rule | tojson) }}
    {%- endif -%}
    {%- set kinds = ['all', 'any', 'not', 'column', 'events', 'sessions', 'sequence',
                     'in_segment', 'not_in_segment'] -%}
    {%- set found = rule.keys() | select('in', kinds) | list -%}
    {%- if found | length == 0 -%}
        {{ segment_rule_error(name, "unknown rule key(s) " ~ rule.keys() | list | tojson ~ " (allowed: " ~ kinds | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set kind = found[0] -%}
    {%- if kind == 'column' -%}
        {{ return(segment_rule_column_leaf(ctx, rule)) }}
    {%- endif -%}
    {%- if rule | length != 1 -%}
        {{ segment_rule_error(name, "'" ~ kind ~ "' must be the only key of its mapping, got keys " ~ rule.keys() | list | tojson) }}
    {%- endif -%}
    {%- set body = rule[kind] -%}
    {%- if kind == 'not' -%}
        {{ return('(not ' ~ segment_rule_formula(ctx, body) ~ ')') }}
    {%- elif kind in ['all', 'any'] -%}
        {%- if body is string or body is mapping or body is not iterable or body | length == 0 -%}
            {{ segment_rule_error(name, "'" ~ kind ~ "' needs a non-empty list of rules") }}
        {%- endif -%}
        {%- set parts = [] -%}
        {%- for child in body -%}
            {%- do parts.append(segment_rule_formula(ctx, child)) -%}
        {%- endfor -%}
        {{ return('(' ~ parts | join(' and ' if kind == 'all' else ' or ') ~ ')') }}
    {%- elif kind == 'events' -%}
        {{ return(segment_rule_events_leaf(ctx, body)) }}
    {%- elif kind == 'sessions' -%}
        {{ return(segment_rule_sessions_leaf(ctx, body)) }}
    {%- elif kind == 'sequence' -%}
        {{ return(segment_rule_sequence_leaf(ctx, body)) }}
    {%- else -%}
        {{ return(segment_rule_reference_leaf(ctx, kind, body)) }}
    {%- endif -%}
{%- endmacro %}


{#- Registers a leaf and returns the formula that reads it (kept as leaf.formula). -#}
{% macro segment_rule_add_leaf(ctx, leaf) -%}
    {%- do leaf.update({'number': ctx.leaves | length + 1}) -%}
    {%- do leaf.update({'cte': 'leaf_' ~ ctx.segment ~ '_' ~ leaf.number}) -%}
    {%- if leaf.kind == 'column' -%}
        {%- do leaf.update({'formula': leaf.predicate}) -%}
    {%- else -%}
        {%- set read = '(coalesce(' ~ leaf.cte ~ '.passed, ' ~ leaf.default_passed ~ ') = 1)' -%}
        {%- do leaf.update({'formula': '(not ' ~ read ~ ')' if leaf.get('negate') else read}) -%}
    {%- endif -%}
    {%- do ctx.leaves.append(leaf) -%}
    {{ return(leaf.formula) }}
{%- endmacro %}


{#- ---- durations and comparisons ------------------------------------------------------- -#}

{#- '30m' / '24h' / '7d' -> minutes. -#}
{% macro segment_rule_minutes(ctx, token, what) -%}
    {%- set text = token | string | trim -%}
    {%- set match = modules.re.match('^([1-9][0-9]*)(m|h|d)$', text) if token is not number else none -%}
    {%- if match is none -%}
        {{ segment_rule_error(ctx.segment, what ~ " '" ~ token ~ "' is not a duration: write a whole number followed by m, h or d, such as 30m, 24h or 7d") }}
    {%- endif -%}
    {%- set amount = match.group(1) | int -%}
    {{ return(amount * {'m': 1, 'h': 60, 'd': 1440}[match.group(2)]) }}
{%- endmacro %}

{#- The one comparison of a condition mapping: {op, number, sql}. -#}
{% macro segment_rule_comparison(ctx, body, what, allow_none=true) -%}
    {%- set vocabulary = segment_rule_vocabulary() -%}
    {%- set found = body.keys() | select('in', vocabulary.comparisons) | list -%}
    {%- if found | length != 1 -%}
        {{ segment_rule_error(ctx.segment, what ~ " needs exactly one comparison (" ~ vocabulary.comparisons | join(', ') ~ "), got " ~ (found | tojson if found else 'none')) }}
    {%- endif -%}
    {%- set op = found[0] -%}
    {%- set value = body[op] -%}
    {%- if op == 'none' -%}
        {%- if not allow_none -%}
            {{ segment_rule_error(ctx.segment, "'none' cannot be used in " ~ what ~ " (it means no matching event at all; drop 'per' or use a share comparison)") }}
        {%- endif -%}
        {%- if value is not sameas true -%}
            {{ segment_rule_error(ctx.segment, "comparison 'none' takes the value true, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return({'op': 'none', 'number': 0, 'sql': '= 0', 'text': 'none'}) }}
    {%- endif -%}
    {%- if value is sameas true or value is sameas false or value is not number -%}
        {{ segment_rule_error(ctx.segment, "comparison '" ~ op ~ "' in " ~ what ~ " needs a number, got " ~ value | tojson) }}
    {%- endif -%}
    {%- set sql_op = {'more_than': '>', 'at_least': '>=', 'less_than': '<', 'at_most': '<=', 'exactly': '='}[op] -%}
    {{ return({'op': op, 'number': value, 'sql': sql_op ~ ' ' ~ value, 'text': op ~ ' ' ~ value}) }}
{%- endmacro %}

{#- 1 when the comparison holds for value 0 (a person without any matching row), else 0. -#}
{% macro segment_rule_passes_at_zero(comparison) -%}
    {%- set n = comparison.number -%}
    {%- set op = comparison.op -%}
    {%- set holds = (op == 'none') or (op == 'more_than' and 0 > n) or (op == 'at_least' and 0 >= n)
        or (op == 'less_than' and 0 < n) or (op == 'at_most' and 0 <= n) or (op == 'exactly' and n == 0) -%}
    {{ return(1 if holds else 0) }}
{%- endmacro %}


{#- ---- filters (where) ------------------------------------------------------------------ -#}

{#- One literal of a filter, checked against the filter's type. -#}
{% macro segment_rule_filter_literal(ctx, column, type, value) -%}
    {%- set vocabulary = segment_rule_vocabulary() -%}
    {%- if type in ['hour_of_day', 'day_of_week', 'number'] -%}
        {%- if type == 'day_of_week' and value is string and (value | lower)[:3] in vocabulary.days -%}
            {{ return(vocabulary.days[(value | lower)[:3]] | string) }}
        {%- endif -%}
        {%- if value is sameas true or value is sameas false or value is not number -%}
            {{ segment_rule_error(ctx.segment, "type mismatch: '" ~ column ~ "' is a number" ~ (" (1 = Monday .. 7 = Sunday, or mon..sun)" if type == 'day_of_week' else '') ~ ", got " ~ value | tojson) }}
        {%- endif -%}
        {%- if type == 'hour_of_day' and (value < 0 or value > 23 or value != value | int) -%}
            {{ segment_rule_error(ctx.segment, "hour_of_day must be a whole hour 0-23, got " ~ value | tojson) }}
        {%- endif -%}
        {%- if type == 'day_of_week' and (value < 1 or value > 7 or value != value | int) -%}
            {{ segment_rule_error(ctx.segment, "day_of_week must be 1 (Monday) .. 7 (Sunday) or mon..sun, got " ~ value | tojson) }}
        {%- endif -%}
        {{ return(value | string) }}
    {%- endif -%}
    {%- if value is not string -%}
        {{ segment_rule_error(ctx.segment, "type mismatch: '" ~ column ~ "' is text, got " ~ value | tojson) }}
    {%- endif -%}
    {%- set known = {
        'event_type': var('rule_event_types'), 'page_type': var('rule_page_types'),
        'device_type': vocabulary.device_types}.get(type) -%}
    {%- if known is not none and value not in known -%}
        {{ segment_rule_error(ctx.segment, "unknown " ~ type ~ " '" ~ value ~ "' (known: " ~ known | join(', ') ~ ")") }}
    {%- endif -%}
    {{ return("'" ~ value | replace("'", "''") ~ "'") }}
{%- endmacro %}

{#- The SQL predicate of a `where` mapping over a scoped relation (columns map: filter -> SQL). -#}
{% macro segment_rule_filter_sql(ctx, filters, allowed, sql_columns, what) -%}
    {%- if filters is none -%}{{ return('1 = 1') }}{%- endif -%}
    {%- if filters is not mapping -%}
        {{ segment_rule_error(ctx.segment, "'where' of " ~ what ~ " must be a mapping of column: value, got " ~ filters | tojson) }}
    {%- endif -%}
    {%- set parts = [] -%}
    {%- for column, value in filters.items() -%}
        {%- if column not in allowed -%}
            {{ segment_rule_error(ctx.segment, "unknown column '" ~ column ~ "' in the 'where' of " ~ what ~ " (allowed: " ~ allowed.keys() | list | join(', ') ~ ")") }}
        {%- endif -%}
        {%- set type = allowed[column] -%}
        {%- set sql_column = sql_columns.get(column, column) -%}
        {%- if value is mapping -%}
            {%- if value | length != 1 -%}
                {{ segment_rule_error(ctx.segment, "filter on '" ~ column ~ "' must have one key (not, like, between or a comparison), got " ~ value.keys() | list | tojson) }}
            {%- endif -%}
            {%- set op = (value.keys() | list)[0] -%}
            {%- set operand = value[op] -%}
            {%- if op == 'not' -%}
                {%- if operand is string or operand is number -%}
                    {%- do parts.append(sql_column ~ ' <> ' ~ segment_rule_filter_literal(ctx, column, type, operand)) -%}
                {%- elif operand is iterable and operand is not mapping and operand | length > 0 -%}
                    {%- set literals = [] -%}
                    {%- for item in operand -%}{%- do literals.append(segment_rule_filter_literal(ctx, column, type, item)) -%}{%- endfor -%}
                    {%- do parts.append(sql_column ~ ' not in (' ~ literals | join(', ') ~ ')') -%}
                {%- else -%}
                    {{ segment_rule_error(ctx.segment, "'not' on '" ~ column ~ "' needs a value or a non-empty list, got " ~ operand | tojson) }}
                {%- endif -%}
            {%- elif op == 'like' -%}
                {%- if type in ['hour_of_day', 'day_of_week', 'number'] or operand is not string -%}
                    {{ segment_rule_error(ctx.segment, "'like' needs a text column and a text pattern, got " ~ column ~ ": " ~ operand | tojson) }}
                {%- endif -%}
                {%- do parts.append(sql_column ~ " like '" ~ operand | replace("'", "''") ~ "'") -%}
            {%- elif op == 'between' -%}
                {%- if type not in ['hour_of_day', 'day_of_week', 'number'] -%}
                    {{ segment_rule_error(ctx.segment, "type mismatch: 'between' needs a numeric column, '" ~ column ~ "' is text") }}
                {%- endif -%}
                {%- if operand is string or operand is mapping or operand is not iterable or operand | length != 2 -%}
                    {{ segment_rule_error(ctx.segment, "'between' on '" ~ column ~ "' needs [low, high], got " ~ operand | tojson) }}
                {%- endif -%}
                {%- do parts.append(sql_column ~ ' between ' ~ segment_rule_filter_literal(ctx, column, type, operand[0])
                    ~ ' and ' ~ segment_rule_filter_literal(ctx, column, type, operand[1])) -%}
            {%- elif op in ['more_than', 'at_least', 'less_than', 'at_most', 'exactly'] -%}
                {%- if type not in ['hour_of_day', 'day_of_week', 'number'] -%}
                    {{ segment_rule_error(ctx.segment, "type mismatch: '" ~ op ~ "' needs a numeric column, '" ~ column ~ "' is text") }}
                {%- endif -%}
                {%- set sql_op = {'more_than': '>', 'at_least': '>=', 'less_than': '<', 'at_most': '<=', 'exactly': '='}[op] -%}
                {%- do parts.append(sql_column ~ ' ' ~ sql_op ~ ' ' ~ segment_rule_filter_literal(ctx, column, type, operand)) -%}
            {%- else -%}
                {{ segment_rule_error(ctx.segment, "unknown filter operator '" ~ op ~ "' on '" ~ column ~ "' (allowed: not, like, between, more_than, at_least, less_than, at_most, exactly)") }}
            {%- endif -%}
        {%- elif value is string or value is number -%}
            {%- do parts.append(sql_column ~ ' = ' ~ segment_rule_filter_literal(ctx, column, type, value)) -%}
        {%- elif value is iterable and value | length > 0 -%}
            {%- set literals = [] -%}
            {%- for item in value -%}{%- do literals.append(segment_rule_filter_literal(ctx, column, type, item)) -%}{%- endfor -%}
            {%- do parts.append(sql_column ~ ' in (' ~ literals | join(', ') ~ ')') -%}
        {%- else -%}
            {{ segment_rule_error(ctx.segment, "filter on '" ~ column ~ "' needs a value, a non-empty list or a mapping, got " ~ value | tojson) }}
        {%- endif -%}
    {%- endfor -%}
    {%- if parts | length == 0 -%}{{ return('1 = 1') }}{%- endif -%}
    {%- set guarded = [] -%}
    {%- for part in parts -%}{%- do guarded.append('coalesce(' ~ part ~ ', false)') -%}{%- endfor -%}
    {{ return(guarded | join(' and ')) }}
{%- endmacro %}

{#- Events filtered on local hour / day need each event's time zone (from its session). -#}
{% macro segment_rule_note_local_time(ctx, filters) -%}
    {%- if filters is mapping and ('hour_of_day' in filters or 'day_of_week' in filters) -%}
        {%- do ctx.needs.update({'local_time': true}) -%}
    {%- endif -%}
{%- endmacro %}

{% macro segment_rule_check_keys(ctx, body, allowed, what) -%}
    {%- if body is not mapping -%}
        {{ segment_rule_error(ctx.segment, what ~ " must be a mapping, got " ~ body | tojson) }}
    {%- endif -%}
    {%- set unknown = body.keys() | reject('in', allowed) | list -%}
    {%- if unknown | length > 0 -%}
        {{ segment_rule_error(ctx.segment, "unknown key(s) " ~ unknown | tojson ~ " in " ~ what ~ " (allowed: " ~ allowed | join(', ') ~ ")") }}
    {%- endif -%}
{%- endmacro %}


{#- ---- leaves ---------------------------------------------------------------------------- -#}

{#- column / op / value over the profile (dim_users and the score marts). -#}
{% macro segment_rule_column_leaf(ctx, rule) -%}
    {%- set name = ctx.segment -%}
    {%- if 'op' not in rule -%}
        {{ segment_rule_error(name, "a column condition needs 'column' and 'op', got " ~ rule | tojson) }}
    {%- endif -%}
    {%- set unknown_keys = rule.keys() | reject('in', ['column', 'op', 'value']) | list -%}
    {%- if unknown_keys | length > 0 -%}
        {{ segment_rule_error(name, "unknown key(s) " ~ unknown_keys | tojson ~ " in condition " ~ rule | tojson) }}
    {%- endif -%}
    {%- set column = rule['column'] | string | lower -%}
    {%- set op = rule['op'] | string | lower | trim -%}
    {%- set all_ops = ['=', '!=', '>', '>=', '<', '<=', 'in', 'not in', 'between', 'is null', 'is not null'] -%}
    {%- if column not in ctx.columns -%}
        {{ segment_rule_error(name, "unknown column '" ~ rule['column'] ~ "' (not a column of " ~ var('segment_rule_column_models') | join(', ') ~ ")") }}
    {%- endif -%}
    {%- if op not in all_ops -%}
        {{ segment_rule_error(name, "unknown operator '" ~ rule['op'] ~ "' on column '" ~ column ~ "' (allowed: " ~ all_ops | join(', ') ~ ")") }}
    {%- endif -%}
    {%- do ctx.profile_columns.append(column) if column not in ctx.profile_columns -%}
    {%- set family = segment_rule_type_family(ctx.columns[column]) -%}
    {%- set value = rule.get('value') -%}
    {%- set target = 'profile.' ~ column -%}
    {%- if op in ['is null', 'is not null'] -%}
        {%- if value is not none -%}
            {{ segment_rule_error(name, "operator '" ~ op ~ "' on column '" ~ column ~ "' takes no value") }}
        {%- endif -%}
        {%- set predicate = '(' ~ target ~ ' ' ~ op ~ ')' -%}
    {%- elif op in ['in', 'not in'] -%}
        {%- if value is string or value is mapping or value is not iterable or value | length == 0 -%}
            {{ segment_rule_error(name, "operator '" ~ op ~ "' on column '" ~ column ~ "' needs a non-empty list value") }}
        {%- endif -%}
        {%- set literals = [] -%}
        {%- for item in value -%}
            {%- do literals.append(segment_rule_literal(name, column, family, item)) -%}
        {%- endfor -%}
        {%- set predicate = 'coalesce(' ~ target ~ ' ' ~ op ~ ' (' ~ literals | join(', ') ~ '), false)' -%}
    {%- elif op == 'between' -%}
        {%- if value is string or value is mapping or value is not iterable or value | length != 2 -%}
            {{ segment_rule_error(name, "operator 'between' on column '" ~ column ~ "' needs a list of two values [low, high]") }}
        {%- endif -%}
        {%- set predicate = 'coalesce(' ~ target ~ ' between ' ~ segment_rule_literal(name, column, family, value[0])
            ~ ' and ' ~ segment_rule_literal(name, column, family, value[1]) ~ ', false)' -%}
    {%- else -%}
        {%- if family == 'boolean' and op not in ['=', '!='] -%}
            {{ segment_rule_error(name, "type mismatch: operator '" ~ op ~ "' cannot compare boolean column '" ~ column ~ "'") }}
        {%- endif -%}
        {%- set predicate = 'coalesce(' ~ target ~ ' ' ~ ('<>' if op == '!=' else op) ~ ' '
            ~ segment_rule_literal(name, column, family, value) ~ ', false)' -%}
    {%- endif -%}
    {{ return(segment_rule_add_leaf(ctx, {
        'kind': 'column', 'rule': rule, 'predicate': predicate,
        'value_sql': 'cast(' ~ target ~ ' as ' ~ dbt.type_string() ~ ')',
        'threshold': op ~ ((' ' ~ value | tojson) if value is not none else '')
    })) }}
{%- endmacro %}

{#- events: measure over the person's matching events in a window (optionally per value). -#}
{% macro segment_rule_events_leaf(ctx, body) -%}
    {%- set vocabulary = segment_rule_vocabulary() -%}
    {%- do segment_rule_check_keys(ctx, body, ['where', 'within', 'per', 'measure'] + vocabulary.comparisons, 'an events condition') -%}
    {%- if 'within' not in body -%}
        {{ segment_rule_error(ctx.segment, "an events condition needs a window, 'within' (such as 30m, 24h or 7d)") }}
    {%- endif -%}
    {%- set minutes = segment_rule_minutes(ctx, body['within'], 'window') -%}
    {%- set measure = body.get('measure', 'count') -%}
    {%- if measure not in vocabulary.event_measures -%}
        {{ segment_rule_error(ctx.segment, "unknown measure '" ~ measure ~ "' in an events condition (allowed: " ~ vocabulary.event_measures | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set per = body.get('per') -%}
    {%- if per is not none and per not in vocabulary.per_columns -%}
        {{ segment_rule_error(ctx.segment, "unknown 'per' column '" ~ per ~ "' (allowed: " ~ vocabulary.per_columns | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set comparison = segment_rule_comparison(ctx, body, 'an events condition', allow_none=(per is none)) -%}
    {%- set filter = segment_rule_filter_sql(ctx, body.get('where'), vocabulary.event_filters,
        {'hour_of_day': 'local_hour', 'day_of_week': 'local_day_of_week'}, 'an events condition') -%}
    {%- if measure in ['sum_dwell', 'max_dwell'] -%}{%- do ctx.needs.update({'dwell': true}) -%}{%- endif -%}
    {%- do segment_rule_note_local_time(ctx, body.get('where')) -%}
    {%- do ctx.needs.update({'events': true}) -%}
    {%- do ctx.lookbacks.append(minutes) -%}
    {%- set expression = {
        'count': 'count(*)',
        'sum_dwell': 'coalesce(sum(dwell_seconds), 0)',
        'max_dwell': 'coalesce(max(dwell_seconds), 0)',
        'distinct_products': 'count(distinct product_id)',
        'distinct_categories': 'count(distinct product_category)',
        'distinct_days': 'count(distinct cast(occurred_at as date))',
        'distinct_sessions': 'count(distinct session_id)'}[measure] -%}
    {%- set double = type_double() -%}
    {%- set scope = 'from scoped_events where ' ~ filter ~ ' and ' ~ is_within_last('occurred_at', minutes, 'minute') -%}
    {%- if per is none -%}
        {%- set sql -%}
            select person_id, value, case when value {{ comparison.sql }} then 1 else 0 end as passed
            from (
                select person_id, cast({{ expression }} as {{ double }}) as value
                {{ scope }}
                group by person_id
            ) as measured
        {%- endset -%}
        {%- set default_passed = segment_rule_passes_at_zero(comparison) -%}
    {%- else -%}
        {%- set pick = 'min' if comparison.op in ['less_than', 'at_most'] else 'max' -%}
        {%- set sql -%}
            select
                person_id,
                {{ pick }}(value) as value,
                max(case when value {{ comparison.sql }} then 1 else 0 end) as passed
            from (
                select person_id, {{ per }}, cast({{ expression }} as {{ double }}) as value
                {{ scope }} and {{ per }} is not null
                group by person_id, {{ per }}
            ) as measured_per_value
            group by person_id
        {%- endset -%}
        {%- set default_passed = 0 -%}
    {%- endif -%}
    {{ return(segment_rule_add_leaf(ctx, {
        'kind': 'events', 'rule': {'events': body}, 'sql': sql, 'default_passed': default_passed,
        'threshold': measure ~ (' per ' ~ per if per else '') ~ ' ' ~ comparison.text ~ ' within ' ~ body['within']
    })) }}
{%- endmacro %}

{#- sessions: count / share / distinct days of the person's sessions in a window that match. -#}
{% macro segment_rule_sessions_leaf(ctx, body) -%}
    {%- set vocabulary = segment_rule_vocabulary() -%}
    {%- do segment_rule_check_keys(ctx, body, ['where', 'within', 'measure'] + vocabulary.comparisons, 'a sessions condition') -%}
    {%- if 'within' not in body -%}
        {{ segment_rule_error(ctx.segment, "a sessions condition needs a window, 'within' (such as 30m, 24h or 7d)") }}
    {%- endif -%}
    {%- set minutes = segment_rule_minutes(ctx, body['within'], 'window') -%}
    {%- set measure = body.get('measure', 'count') -%}
    {%- if measure not in vocabulary.session_measures -%}
        {{ segment_rule_error(ctx.segment, "unknown measure '" ~ measure ~ "' in a sessions condition (allowed: " ~ vocabulary.session_measures | join(', ') ~ ")") }}
    {%- endif -%}
    {%- set comparison = segment_rule_comparison(ctx, body, 'a sessions condition', allow_none=(measure != 'share')) -%}
    {%- if measure == 'share' and (comparison.number < 0 or comparison.number > 1) -%}
        {{ segment_rule_error(ctx.segment, "a share is between 0 and 1 (0.4 = 40 %), got " ~ comparison.number) }}
    {%- endif -%}
    {%- set filter = segment_rule_filter_sql(ctx, body.get('where'), vocabulary.session_filters,
        {'hour_of_day': 'local_start_hour', 'day_of_week': 'local_day_of_week',
         'page_views': 'page_views', 'landing_page_type': 'landing_page_type'}, 'a sessions condition') -%}
    {%- do ctx.needs.update({'sessions': true}) -%}
    {%- do ctx.session_lookbacks.append(minutes) -%}
    {%- set double = type_double() -%}
    {%- set expression = {
        'count': 'sum(case when ' ~ filter ~ ' then 1 else 0 end)',
        'share': 'sum(case when ' ~ filter ~ ' then 1 else 0 end) * 1.0 / count(*)',
        'distinct_days': 'count(distinct case when ' ~ filter ~ ' then cast(started_at as date) end)'}[measure] -%}
    {%- set sql -%}
        select person_id, value, case when value {{ comparison.sql }} then 1 else 0 end as passed
        from (
            select person_id, cast({{ expression }} as {{ double }}) as value
            from scoped_sessions
            where {{ is_within_last('started_at', minutes, 'minute') }}
            group by person_id
        ) as measured
    {%- endset -%}
    {{ return(segment_rule_add_leaf(ctx, {
        'kind': 'sessions', 'rule': {'sessions': body}, 'sql': sql,
        'default_passed': 0 if measure == 'share' else segment_rule_passes_at_zero(comparison),
        'threshold': measure ~ ' ' ~ comparison.text ~ ' within ' ~ body['within']
    })) }}
{%- endmacro %}

{#- sequence: step 1, then each next step within its time of the previous one (optionally the
    same product / column), the last step optionally `absent` (no such event within its time
    after the last positive step, and that time must have elapsed by as_of). -#}
{% macro segment_rule_sequence_leaf(ctx, body) -%}
    {%- set vocabulary = segment_rule_vocabulary() -%}
    {%- do segment_rule_check_keys(ctx, body, ['steps'], 'a sequence') -%}
    {%- set steps = body.get('steps') -%}
    {%- if steps is none or steps is string or steps is mapping or steps is not iterable or steps | length < 2 -%}
        {{ segment_rule_error(ctx.segment, "a sequence needs 'steps': a list of at least two steps") }}
    {%- endif -%}
    {%- set number = ctx.leaves | length + 1 -%}
    {%- set prefix = 'leaf_' ~ ctx.segment ~ '_' ~ number -%}
    {%- set parsed = [] -%}
    {%- set state = {'windowed': false, 'reach': 0, 'lookback': 0} -%}
    {%- for step in steps -%}
        {%- set what = 'step ' ~ loop.index ~ ' of a sequence' -%}
        {%- do segment_rule_check_keys(ctx, step, ['where', 'within', 'window', 'same', 'absent'], what) -%}
        {%- if 'where' not in step -%}
            {{ segment_rule_error(ctx.segment, what ~ " needs 'where' (the events it matches)") }}
        {%- endif -%}
        {%- set absent = step.get('absent', false) -%}
        {%- if absent is not sameas true and absent is not sameas false -%}
            {{ segment_rule_error(ctx.segment, "'absent' of " ~ what ~ " must be true or false, got " ~ absent | tojson) }}
        {%- endif -%}
        {%- if absent and not loop.last -%}
            {{ segment_rule_error(ctx.segment, "only the last step of a sequence can be 'absent' (" ~ what ~ ")") }}
        {%- endif -%}
        {%- if loop.first and (absent or 'within' in step or 'same' in step) -%}
            {{ segment_rule_error(ctx.segment, "the first step of a sequence takes only 'where' and 'window'") }}
        {%- endif -%}
        {%- if not loop.first and 'within' not in step -%}
            {{ segment_rule_error(ctx.segment, what ~ " needs 'within' (its time after the previous step, such as 30m)") }}
        {%- endif -%}
        {%- set within = segment_rule_minutes(ctx, step['within'], "'within' of " ~ what) if 'within' in step else 0 -%}
        {%- do state.update({'reach': state.reach + within}) -%}
        {%- set window = none -%}
        {%- if 'window' in step -%}
            {%- if absent -%}
                {{ segment_rule_error(ctx.segment, "an 'absent' step takes no 'window' (its time is 'within' after the previous step)") }}
            {%- endif -%}
            {%- set window = segment_rule_minutes(ctx, step['window'], "'window' of " ~ what) -%}
            {%- do state.update({'windowed': true}) -%}
            {%- if window + state.reach > state.lookback -%}{%- do state.update({'lookback': window + state.reach}) -%}{%- endif -%}
        {%- endif -%}
        {%- set same = step.get('same', []) -%}
        {%- set same = [same] if same is string else same -%}
        {%- for column in same -%}
            {%- if column not in vocabulary.per_columns -%}
                {{ segment_rule_error(ctx.segment, "unknown 'same' column '" ~ column ~ "' in " ~ what ~ " (allowed: " ~ vocabulary.per_columns | join(', ') ~ ")") }}
            {%- endif -%}
        {%- endfor -%}
        {%- set filter = segment_rule_filter_sql(ctx, step['where'], vocabulary.event_filters,
            {'hour_of_day': 'local_hour', 'day_of_week': 'local_day_of_week'}, what) -%}
        {%- do segment_rule_note_local_time(ctx, step['where']) -%}
        {%- do parsed.append({'index': loop.index, 'absent': absent, 'within': within, 'window': window,
                              'same': same, 'filter': filter}) -%}
    {%- endfor -%}
    {%- if not state.windowed -%}
        {{ segment_rule_error(ctx.segment, "a sequence needs a 'window' on at least one step (for example the add to cart within 24h)") }}
    {%- endif -%}
    {%- do ctx.needs.update({'events': true}) -%}
    {%- do ctx.lookbacks.append(state.lookback) -%}
    {%- set positives = parsed | rejectattr('absent') | list -%}
    {%- set absent_steps = parsed | selectattr('absent') | list -%}
    {%- set anchor = positives | last -%}
    {%- set columns = [] -%}
    {%- for step in parsed -%}{%- for column in step.same -%}{%- do columns.append(column) if column not in columns -%}{%- endfor -%}{%- endfor -%}
    {%- set carried = (', ' ~ columns | join(', ')) if columns else '' -%}
    {%- set sql -%}
        {%- for step in parsed %}
        {{ prefix }}_s{{ step.index }} as (
            select person_id, event_id, occurred_at{{ carried }}
            from scoped_events
            where {{ step.filter }}
            {%- if step.window is not none %} and {{ is_within_last('occurred_at', step.window, 'minute') }}{% endif %}
        ),
        {%- endfor %}
        {{ prefix }}_matches as (
            select
                s{{ anchor.index }}.person_id,
                s{{ anchor.index }}.event_id as anchor_event_id,
                s{{ anchor.index }}.occurred_at as anchor_at{% for column in columns %},
                s{{ anchor.index }}.{{ column }}{% endfor %}
            from {{ prefix }}_s1 as s1
            {%- for step in positives if step.index > 1 %}
            inner join {{ prefix }}_s{{ step.index }} as s{{ step.index }}
                on
                    s{{ step.index }}.person_id = s{{ step.index - 1 }}.person_id
                    and {{ seconds_between('s' ~ (step.index - 1) ~ '.occurred_at', 's' ~ step.index ~ '.occurred_at') }}
                    between 0 and {{ step.within * 60 }}
                    {%- for column in step.same %}
                    and s{{ step.index }}.{{ column }} = s{{ step.index - 1 }}.{{ column }}
                    {%- endfor %}
            {%- endfor %}
            {%- for step in absent_steps %}
            where {{ seconds_between('s' ~ anchor.index ~ '.occurred_at', as_of()) }} >= {{ step.within * 60 }}
            {%- endfor %}
        ),
        {%- for step in absent_steps %}
        {{ prefix }}_blocked as (
            select distinct
                matches.person_id,
                matches.anchor_event_id
            from {{ prefix }}_matches as matches
            inner join {{ prefix }}_s{{ step.index }} as absent_events
                on
                    matches.person_id = absent_events.person_id
                    and {{ seconds_between('matches.anchor_at', 'absent_events.occurred_at') }}
                    between 0 and {{ step.within * 60 }}
                    {%- for column in step.same %}
                    and absent_events.{{ column }} = matches.{{ column }}
                    {%- endfor %}
        ),
        {%- endfor %}
        {{ prefix }} as (
            select
                matches.person_id,
                cast(count(distinct matches.anchor_event_id) as {{ type_double() }}) as value,
                1 as passed
            from {{ prefix }}_matches as matches
            {%- if absent_steps %}
            left join {{ prefix }}_blocked as blocked
                on
                    matches.person_id = blocked.person_id
                    and matches.anchor_event_id = blocked.anchor_event_id
            where blocked.anchor_event_id is null
            {%- endif %}
            group by matches.person_id
        )
    {%- endset -%}
    {{ return(segment_rule_add_leaf(ctx, {
        'kind': 'sequence', 'rule': {'sequence': body}, 'ctes': sql, 'default_passed': 0,
        'threshold': 'at least one matching sequence'
    })) }}
{%- endmacro %}

{#- in_segment / not_in_segment: a built-in key (segment_catalog) or another custom segment. -#}
{% macro segment_rule_reference_leaf(ctx, kind, key) -%}
    {%- set builtin = builtin_segment_keys() -%}
    {%- if key is not string -%}
        {{ segment_rule_error(ctx.segment, "'" ~ kind ~ "' needs a segment key, got " ~ key | tojson) }}
    {%- endif -%}
    {%- set ns = namespace(prefixed=false) -%}
    {%- for prefix in builtin.prefixes -%}
        {%- if key.startswith(prefix) and key | length > prefix | length -%}{%- set ns.prefixed = true -%}{%- endif -%}
    {%- endfor -%}
    {%- if key in ctx.custom_names -%}
        {%- if key == ctx.segment -%}
            {{ segment_rule_error(ctx.segment, "segment reference cycle: " ~ key ~ " -> " ~ key) }}
        {%- endif -%}
        {%- do ctx.references.append(key) if key not in ctx.references -%}
        {%- set sql = 'select person_id, 1.0 as value, 1 as passed from segment_' ~ key -%}
    {%- elif key in builtin.exact or ns.prefixed -%}
        {%- do ctx.needs.update({'builtin': true}) -%}
        {%- set sql = "select distinct person_id, 1.0 as value, 1 as passed from builtin_memberships where segment_key = '" ~ key ~ "'" -%}
    {%- else -%}
        {{ segment_rule_error(ctx.segment, kind ~ " '" ~ key ~ "' is not a segment: neither a built-in key (segment_catalog) nor a custom segment of this file") }}
    {%- endif -%}
    {{ return(segment_rule_add_leaf(ctx, {
        'kind': 'segment', 'rule': {kind: key}, 'sql': sql, 'default_passed': 0,
        'negate': kind == 'not_in_segment', 'threshold': ('member of ' if kind == 'in_segment' else 'not a member of ') ~ key
    })) }}
{%- endmacro %}
