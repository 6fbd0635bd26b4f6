{#- Purchase intent figures per person (every person of dim_users); the rules over them
    live in purchase_intent_segments:
    - intent_page_views and longest_intent_dwell_seconds: page views with page_type in var
      high_intent_page_types in the last var high_intent_window_days days;
    - intent_score 0-100: points of the seed intent_weights per behaviour, halved every
      var intent_half_life_days days of age, summed and capped at 100; intent_tier from it
      (macro intent_tier, the same one purchase_intent_segments uses). -#}

with

users as (

    select
        person_id,
        user_id
    from {{ ref('dim_users') }}

),

page_views as (

    select * from {{ ref('fct_page_views') }}
    where
        page_type in (
            '{{ var("high_intent_page_types") | join("', '") }}'  -- noqa: LT05
        )
        and {{ is_within_last('viewed_at', var('high_intent_window_days')) }}

),

behaviours as (

    select * from {{ ref('int_segments__intent_behaviours') }}

),

weights as (

    select * from {{ ref('intent_weights') }}

),

intent_page_views as (

    select
        person_id,
        count(*) as intent_page_views,
        max(dwell_seconds) as longest_intent_dwell_seconds,
        min(viewed_at) as first_intent_page_view_at
    from page_views
    group by person_id

),

decayed_points as (

    select
        behaviours.person_id,
        sum(
            weights.points
            * power(0.5, behaviours.age_days / {{ var('intent_half_life_days') }})
        ) as intent_points,
        count(*) as intent_behaviours,
        min(behaviours.occurred_at) as first_intent_behaviour_at
    from behaviours
    inner join weights
        on behaviours.behaviour = weights.behaviour
    group by behaviours.person_id

),

scored as (

    select
        users.person_id,
        users.user_id,
        coalesce(intent_page_views.intent_page_views, 0) as intent_page_views,
        intent_page_views.longest_intent_dwell_seconds,
        intent_page_views.first_intent_page_view_at,
        coalesce(decayed_points.intent_behaviours, 0) as intent_behaviours,
        decayed_points.first_intent_behaviour_at,
        least(100.0, coalesce(decayed_points.intent_points, 0)) as intent_score
    from users
    left join intent_page_views
        on users.person_id = intent_page_views.person_id
    left join decayed_points
        on users.person_id = decayed_points.person_id

),

final as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(intent_page_views as {{ dbt.type_bigint() }}) as intent_page_views,
        cast(longest_intent_dwell_seconds as {{ type_double() }}) as longest_intent_dwell_seconds,
        cast(first_intent_page_view_at as {{ dbt.type_timestamp() }}) as first_intent_page_view_at,
        cast(intent_behaviours as {{ dbt.type_bigint() }}) as intent_behaviours,
        cast(first_intent_behaviour_at as {{ dbt.type_timestamp() }}) as first_intent_behaviour_at,
        cast(intent_score as {{ type_double() }}) as intent_score,
        cast({{ intent_tier('intent_score') }} as {{ dbt.type_string() }}) as intent_tier,
        {{ as_of() }} as as_of
    from scored

)

select * from final
