{#- The purchase_intent family, whole rule, over the figures of the purchase_intent mart:
    - high_purchase_intent: more than var high_intent_min_page_views page views of the page
      types var high_intent_page_types in the last var high_intent_window_days days AND a
      longest dwell on one of them of more than var high_intent_min_dwell_seconds
      (score: those page views);
    - intent_tier_high / intent_tier_medium: intent_score at or above var
      intent_tier_high_min_score / var intent_tier_medium_min_score (score: intent_score). -#}

with

purchase_intent as (

    select * from {{ ref('purchase_intent') }}

),

tiered as (

    select
        *,
        {{ intent_tier('intent_score') }} as segment_tier
    from purchase_intent

),

high_purchase_intent as (

    select
        person_id,
        'high_purchase_intent' as segment_key,
        cast(intent_page_views as {{ type_double() }}) as score,
        first_intent_page_view_at as member_since
    from tiered
    where
        intent_page_views > {{ var('high_intent_min_page_views') }}
        and longest_intent_dwell_seconds > {{ var('high_intent_min_dwell_seconds') }}

),

intent_tiers as (

    select
        person_id,
        {{ dbt.concat(["'intent_tier_'", 'segment_tier']) }} as segment_key,
        intent_score as score,
        coalesce(first_intent_behaviour_at, as_of) as member_since
    from tiered
    where segment_tier in ('high', 'medium')

),

final as (

    select
        person_id,
        segment_key,
        'purchase_intent' as segment_family,
        score,
        member_since
    from high_purchase_intent

    union all

    select
        person_id,
        segment_key,
        'purchase_intent' as segment_family,
        score,
        member_since
    from intent_tiers

)

select * from final
