-- Equal values always get equal scores (docs/decisions/0002-rfm-tie-rule.md), and a better
-- value never gets a lower score. Returns the offending values.

with

rfm_scores as (

    select * from {{ ref('rfm_scores') }}

),

{%- set measures = [
    ('recency_days', 'r_score', 'desc'),
    ('frequency', 'f_score', 'asc'),
    ('monetary', 'm_score', 'asc'),
] -%}
{% for measure, score, better in measures %}
    {{ score }}_by_value as (

        select
            '{{ measure }}' as measure,
            cast({{ measure }} as {{ type_double() }}) as measured_value,
            min({{ score }}) as min_score,
            max({{ score }}) as max_score
        from rfm_scores
        group by {{ measure }}

    ),

    {{ score }}_ordered as (

        select
            *,
            lag(max_score) over (order by measured_value {{ better }}) as previous_max_score
        from {{ score }}_by_value

    ),

{% endfor %}

violations as (

    {% for score in ['r_score', 'f_score', 'm_score'] %}
        select
            measure,
            measured_value,
            min_score,
            max_score
        from {{ score }}_ordered
        where min_score != max_score or min_score < previous_max_score
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from violations
