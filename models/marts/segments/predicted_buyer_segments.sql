{#- The predicted_buyer family, whole rule: people whose purchase propensity (the
    `audiences ml` step's gradient boosting model, docs/ml.md) is in the top var
    predicted_buyer_max_decile deciles (decile 1 = the highest tenth). Score: the
    probability of a completed order in the next 7 days. Empty when the step has not run. -#}

with

scores as (

    select * from {{ ref('stg_ml__propensity_scores') }}

),

final as (

    select
        person_id,
        'predicted_buyer' as segment_key,
        'predicted_buyer' as segment_family,
        purchase_probability_7d as score,
        as_of as member_since
    from scores
    where propensity_decile <= {{ var('predicted_buyer_max_decile') }}

)

select * from final
