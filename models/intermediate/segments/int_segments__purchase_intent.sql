with

purchase_intent as (

    select * from {{ ref('purchase_intent') }}

),

high_purchase_intent as (

    select
        person_id,
        'high_purchase_intent' as segment_key,
        cast(intent_page_views as {{ type_double() }}) as score,
        first_intent_page_view_at as member_since
    from purchase_intent
    where is_high_purchase_intent

),

intent_tiers as (

    select
        person_id,
        {{ dbt.concat(["'intent_tier_'", 'intent_tier']) }} as segment_key,
        intent_score as score,
        coalesce(first_intent_behaviour_at, as_of) as member_since
    from purchase_intent
    where intent_tier in ('high', 'medium')

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
