-- Every cell of the 5 x 5 grid r_score x fm_score has a segment in rfm_segment_map.
-- Returns the uncovered cells.

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
        fm.score as fm_score
    from scores as r
    cross join scores as fm

)

select cells.*
from cells
left join segment_map
    on
        cells.r_score between segment_map.r_score_min and segment_map.r_score_max
        and cells.fm_score between segment_map.fm_score_min and segment_map.fm_score_max
where segment_map.rfm_segment is null
