{#- The rfm family, whole rule: every customer of rfm_scores gets the segment
    rfm_<rfm_segment> of the seed rfm_segment_map box that holds their (r_score, f_score,
    fm_score), the lowest priority winning on overlap (score: r*100 + f*10 + m, member
    since the last order). The scores themselves follow docs/decisions/0002-rfm-tie-rule.md. -#}

with

rfm_scores as (

    select * from {{ ref('rfm_scores') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

matches as (

    select
        rfm_scores.person_id,
        segment_map.rfm_segment,
        row_number() over (
            partition by rfm_scores.person_id order by segment_map.priority
        ) as match_rank
    from rfm_scores
    inner join segment_map
        on
            rfm_scores.r_score between segment_map.r_score_min and segment_map.r_score_max
            and rfm_scores.f_score between segment_map.f_score_min and segment_map.f_score_max
            and rfm_scores.fm_score between segment_map.fm_score_min and segment_map.fm_score_max

),

final as (

    select
        rfm_scores.person_id,
        {{ dbt.concat(["'rfm_'", 'matches.rfm_segment']) }} as segment_key,
        'rfm' as segment_family,
        cast(
            rfm_scores.r_score * 100 + rfm_scores.f_score * 10 + rfm_scores.m_score
            as {{ type_double() }}
        ) as score,
        rfm_scores.last_order_at as member_since
    from rfm_scores
    inner join matches
        on
            rfm_scores.person_id = matches.person_id
            and matches.match_rank = 1

)

select * from final
