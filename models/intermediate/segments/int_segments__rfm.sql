with

rfm_scores as (

    select * from {{ ref('rfm_scores') }}

),

final as (

    select
        person_id,
        {{ dbt.concat(["'rfm_'", 'rfm_segment']) }} as segment_key,
        'rfm' as segment_family,
        cast(r_score * 100 + f_score * 10 + m_score as {{ type_double() }}) as score,
        last_order_at as member_since
    from rfm_scores
    where rfm_segment is not null

)

select * from final
