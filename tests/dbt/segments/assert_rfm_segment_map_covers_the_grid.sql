-- Every combination of r_score, f_score and m_score (1-5 each, fm_score derived from f and
-- m) has a segment in rfm_segment_map. Returns the uncovered combinations.

with

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

scores as (

    {% for score in range(1, 6) %}
        select {{ score }} as score
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

cells as (

    select
        r.score as r_score,
        f.score as f_score,
        m.score as m_score,
        cast(ceil((f.score + m.score) / 2.0) as {{ dbt.type_int() }}) as fm_score
    from scores as r
    cross join scores as f
    cross join scores as m

)

select cells.*
from cells
left join segment_map
    on
        cells.r_score between segment_map.r_score_min and segment_map.r_score_max
        and cells.f_score between segment_map.f_score_min and segment_map.f_score_max
        and cells.fm_score between segment_map.fm_score_min and segment_map.fm_score_max
where segment_map.rfm_segment is null
