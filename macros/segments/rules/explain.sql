{#- `audiences explain` (audiences/explain.py) runs
        dbt run-operation explain_person --args '{person: ..., segments: [...]}'
    and reads the one line it prints: AUDIENCES_EXPLAIN <json>.

    For the person (a person_id, a user_id or an email address) and each segment: whether the
    built segment_memberships holds them (and in the holdout), and for a custom segment every
    condition of its rule evaluated for that person alone with the same compiled SQL as the
    build: the person's value, the threshold and pass / fail. The evaluation uses the as_of the
    memberships were built for, whatever var as_of says now. -#}

{% macro explain_person(person=none, segments=none, member_of=none) -%}
    {%- if not execute -%}{{ return('') }}{%- endif -%}
    {%- if person is none and member_of is not none -%}
        {#- an example member of a segment: the first person_id, for a reproducible demo -#}
        {%- set example = run_query("select min(person_id) from " ~ ref('segment_memberships')
            ~ " where segment_key = '" ~ member_of | replace("'", "''") ~ "'") -%}
        {%- set person = example.columns[0].values()[0] -%}
        {%- if person is none -%}
            {{ print('AUDIENCES_EXPLAIN ' ~ tojson({'error': 'no_member', 'segments': [member_of]})) }}
            {{ return('') }}
        {%- endif -%}
        {%- set segments = segments or [member_of] -%}
    {%- endif -%}
    {%- set literal = "'" ~ (person | string) | replace("'", "''") ~ "'" -%}
    {%- set resolve -%}
        select person_id, user_id, 1 as priority from {{ ref('dim_users') }} where person_id = {{ literal }}
        union all
        select person_id, user_id, 2 as priority from {{ ref('dim_users') }} where user_id = {{ literal }}
        union all
        select users.person_id, users.user_id, 3 as priority
        from {{ ref('stg_crm__customers') }} as customers
        inner join {{ ref('dim_users') }} as users on customers.user_id = users.user_id
        where lower(customers.email) = lower({{ literal }}) and not customers.is_erased
        order by priority, person_id
    {%- endset -%}
    {%- set found = run_query(resolve) -%}
    {%- set built = run_query('select max(as_of) from ' ~ ref('segment_memberships')) -%}
    {%- set built_as_of = built.columns[0].values()[0] -%}
    {%- if found.rows | length == 0 -%}
        {{ print('AUDIENCES_EXPLAIN ' ~ tojson({'error': 'unknown_person', 'person': person | string,
            'as_of': built_as_of | string})) }}
        {{ return('') }}
    {%- endif -%}
    {%- set person_id = found.rows[0][0] -%}
    {%- set person_sql = "'" ~ person_id | replace("'", "''") ~ "'" -%}

    {#- the memberships as built, and every known segment key -#}
    {%- set membership_rows = run_query(
        'select segment_key, segment_family, is_holdout, score, member_since from '
        ~ ref('segment_memberships') ~ ' where person_id = ' ~ person_sql) -%}
    {%- set memberships = {} -%}
    {%- for row in membership_rows.rows -%}
        {%- do memberships.update({row[0]: {'family': row[1], 'is_holdout': row[2],
            'score': (row[3] | float) if row[3] is not none else none,
            'member_since': row[4] | string}}) -%}
    {%- endfor -%}
    {%- set definitions = run_query('select segment_key, segment_family, match_type, description from '
        ~ ref('segment_definitions') ~ ' order by segment_family, segment_key') -%}
    {%- set known = {} -%}
    {%- for row in definitions.rows if row[2] == 'exact' -%}
        {%- do known.update({row[0]: {'family': row[1], 'description': row[3]}}) -%}
    {%- endfor -%}
    {%- for key, membership in memberships.items() if key not in known -%}
        {%- do known.update({key: {'family': membership.family, 'description': none}}) -%}
    {%- endfor -%}
    {%- set wanted = segments if segments else known.keys() | list -%}
    {%- set unknown = wanted | reject('in', known.keys() | list) | list -%}
    {%- if unknown | length > 0 -%}
        {{ print('AUDIENCES_EXPLAIN ' ~ tojson({'error': 'unknown_segment', 'segments': unknown,
            'as_of': built_as_of | string})) }}
        {{ return('') }}
    {%- endif -%}

    {#- every rule segment (custom, and built-in with a rule), evaluated for this person alone
        at the built as_of -#}
    {%- set compiled = compile_custom_segments() -%}
    {%- set builtin = compile_custom_segments(builtin_segment_rules(), builtin=true) -%}
    {%- set custom = compiled.segments | selectattr('name', 'in', wanted) | list -%}
    {%- set explained_builtin = builtin.segments | selectattr('name', 'in', wanted) | list -%}
    {%- set evaluations = {} -%}
    {%- do evaluations.update(explain_evaluate(compiled, custom, person_sql, built_as_of)) -%}
    {%- do evaluations.update(explain_evaluate(builtin, explained_builtin, person_sql, built_as_of)) -%}
    {%- set ruled = custom + explained_builtin -%}

    {%- set explained = [] -%}
    {%- for key in wanted -%}
        {%- set membership = memberships.get(key) -%}
        {%- set entry = {
            'segment_key': key, 'family': known[key].family, 'description': known[key].description,
            'member': membership is not none,
            'is_holdout': membership.is_holdout if membership is not none else none,
            'score': membership.score if membership is not none else none,
            'member_since': membership.member_since if membership is not none else none,
            'conditions': []} -%}
        {%- for segment in ruled if segment.name == key -%}
            {%- do entry.update({'evaluated_member': evaluations[key ~ '#0'].passed,
                                 'formula': segment.rule}) -%}
            {%- for leaf in segment.leaves -%}
                {%- set evaluated = evaluations[key ~ '#' ~ leaf.number] -%}
                {%- do entry.conditions.append({'number': leaf.number, 'kind': leaf.kind,
                    'condition': leaf.rule, 'threshold': leaf.threshold,
                    'value': evaluated.value | string if evaluated.value is not none else none,
                    'passed': evaluated.passed}) -%}
            {%- endfor -%}
        {%- endfor -%}
        {%- do explained.append(entry) -%}
    {%- endfor -%}
    {{ print('AUDIENCES_EXPLAIN ' ~ tojson({'person_id': person_id, 'user_id': found.rows[0][1],
        'matched_by': ['person_id', 'user_id', 'email'][found.rows[0][2] - 1],
        'as_of': built_as_of | string, 'segments': explained})) }}
{%- endmacro %}

{#- {"<segment>#<condition number>": {value, passed}} for one person; condition 0 is the
    segment itself. All segments of `compiled` are defined (references), `segments` are read. -#}
{% macro explain_evaluate(compiled, segments, person_sql, built_as_of) -%}
    {%- set evaluations = {} -%}
    {%- if segments | length == 0 -%}{{ return(evaluations) }}{%- endif -%}
    {%- set ctes = segment_rule_shared_ctes(compiled, person_sql) -%}
    {%- for segment in compiled.segments -%}
        {%- for cte in segment_rule_segment_ctes(segment) -%}{%- do ctes.append(cte) -%}{%- endfor -%}
    {%- endfor -%}
    {%- set selects = [] -%}
    {%- for segment in segments -%}
        {%- do selects.append("select '" ~ segment.name ~ "' as segment_key, 0 as condition_number, "
            ~ "cast(null as " ~ dbt.type_string() ~ ") as value, case when profile.person_id in "
            ~ "(select person_id from segment_" ~ segment.name ~ ") then 1 else 0 end as passed from profile") -%}
        {%- for leaf in segment.leaves -%}
            {%- if leaf.kind == 'column' -%}
                {%- set value = leaf.value_sql -%}
                {%- set joined = '' -%}
            {%- else -%}
                {%- set value = 'cast(' ~ leaf.cte ~ '.value as ' ~ dbt.type_string() ~ ')' -%}
                {%- set joined = ' left join ' ~ leaf.cte ~ ' on profile.person_id = ' ~ leaf.cte ~ '.person_id' -%}
            {%- endif -%}
            {%- do selects.append("select '" ~ segment.name ~ "', " ~ leaf.number ~ ", " ~ value
                ~ ", case when " ~ leaf.formula ~ " then 1 else 0 end from profile" ~ joined) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set query = 'with ' ~ ctes | join(',\n') ~ '\n' ~ selects | join('\nunion all\n') -%}
    {#- evaluate at the as_of the memberships were built for -#}
    {%- set query = query | replace(as_of(), "cast('" ~ built_as_of ~ "' as " ~ dbt.type_timestamp() ~ ")") -%}
    {%- for row in run_query(query).rows -%}
        {%- do evaluations.update({row[0] ~ '#' ~ row[1]: {'value': row[2], 'passed': row[3] == 1}}) -%}
    {%- endfor -%}
    {{ return(evaluations) }}
{%- endmacro %}
