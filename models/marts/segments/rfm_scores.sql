{#- RFM scores, one row per customer with at least one completed order up to as_of.
    Scores follow docs/decisions/0002-rfm-tie-rule.md: a score is a function of the value
    (ties share a score), the worst value scores 1 and the best 5, and in between the
    value's mid-rank position is cut into five equal bands. The segment names over these
    scores live in rfm_segments. -#}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_completed and {{ is_not_after_as_of('ordered_at') }}

),

customers as (

    select
        person_id,
        max(user_id) as user_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as frequency,
        sum(order_total) as monetary
    from orders
    group by person_id

),

measured as (

    select
        *,
        {{ days_before_as_of('last_order_at') }} as recency_days
    from customers

),

ranked as (

    -- per measure, ordered from the worst value to the best: n_le counts the customers whose
    -- value is no better (the default frame includes every peer), n_eq those with the same
    -- value; 2 * n_le - n_eq = n_lt + n_le is twice the value's mid-rank, an integer
    select
        *,
        2 * count(*) over (order by recency_days desc)
        - count(*) over (partition by recency_days) as recency_mid_rank_x2,
        2 * count(*) over (order by frequency asc)
        - count(*) over (partition by frequency) as frequency_mid_rank_x2,
        2 * count(*) over (order by monetary asc)
        - count(*) over (partition by monetary) as monetary_mid_rank_x2
    from measured

),

bounded as (

    select
        *,
        min(recency_mid_rank_x2) over () as recency_worst_x2,
        max(recency_mid_rank_x2) over () as recency_best_x2,
        min(frequency_mid_rank_x2) over () as frequency_worst_x2,
        max(frequency_mid_rank_x2) over () as frequency_best_x2,
        min(monetary_mid_rank_x2) over () as monetary_worst_x2,
        max(monetary_mid_rank_x2) over () as monetary_best_x2
    from ranked

),

scored as (

    -- 1 + floor(5 * (position - worst) / (best - worst)), capped at 5: the worst value
    -- scores 1, the best 5, and the positions in between fall into five equal bands; a
    -- measure with a single value scores 1 for everyone
    select
        *,
        {{ rfm_band_score('recency_mid_rank_x2', 'recency_worst_x2', 'recency_best_x2') }}
            as r_score,
        {{ rfm_band_score('frequency_mid_rank_x2', 'frequency_worst_x2', 'frequency_best_x2') }}
            as f_score,
        {{ rfm_band_score('monetary_mid_rank_x2', 'monetary_worst_x2', 'monetary_best_x2') }}
            as m_score
    from bounded

),

with_fm as (

    select
        *,
        cast(ceil((f_score + m_score) / 2.0) as {{ dbt.type_int() }}) as fm_score
    from scored

),

final as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(user_id as {{ dbt.type_string() }}) as user_id,
        cast(first_order_at as {{ dbt.type_timestamp() }}) as first_order_at,
        cast(last_order_at as {{ dbt.type_timestamp() }}) as last_order_at,
        recency_days,
        cast(frequency as {{ dbt.type_bigint() }}) as frequency,
        cast(monetary as {{ type_double() }}) as monetary,
        r_score,
        f_score,
        m_score,
        fm_score,
        {{ as_of() }} as as_of
    from with_fm

)

select * from final
