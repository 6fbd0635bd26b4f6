{#- The top 3 recommended products of each person (the `audiences ml` step's item-item
    recommendations), one column each: what Braze and HubSpot receive. -#}

with

recommendations as (

    select * from {{ ref('stg_ml__product_recommendations') }}
    where recommendation_rank <= 3

),

final as (

    select
        person_id,
        max(case when recommendation_rank = 1 then product_id end) as recommended_product_1,
        max(case when recommendation_rank = 2 then product_id end) as recommended_product_2,
        max(case when recommendation_rank = 3 then product_id end) as recommended_product_3
    from recommendations
    group by person_id

)

select * from final
