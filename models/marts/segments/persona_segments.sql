{#- The persona family, whole rule: each person is a member of their persona from the
    `audiences ml` step (K-Means or Gaussian mixture clusters, plus persona_top_value;
    docs/ml.md). Score: the mixture's membership probability, else 1 / (1 + distance to
    the K-Means centroid), else 1 (persona_top_value). Empty when the step has not run. -#}

with

assignments as (

    select * from {{ ref('stg_ml__persona_assignments') }}

),

final as (

    select
        person_id,
        persona_key as segment_key,
        'persona' as segment_family,
        cast(
            coalesce(persona_probability, 1.0 / (1.0 + persona_distance), 1.0)
            as {{ type_double() }}
        ) as score,
        as_of as member_since
    from assignments

)

select * from final
