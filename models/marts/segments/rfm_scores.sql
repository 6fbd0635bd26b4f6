{#- One row per customer with at least one completed order up to as_of.
    Scores follow docs/decisions/0002-rfm-tie-rule.md: score = ceil(5 * n_le / n), where n_le
    is the number of customers whose value is no better than this one (ties included), so
    equal values always get equal scores and 5 is always best. -#}

with

orders as (

    select * from {{ ref('fct_orders') }}
    where is_completed and {{ is_not_after_as_of('ordered_at') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

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

    -- the default window frame (range ... current row) counts every peer of the current
    -- row: n_le is the number of customers whose value is no better than this one
    select
        *,
        count(*) over () as customers_total,
        count(*) over (order by recency_days desc) as recency_n_le,
        count(*) over (order by frequency asc) as frequency_n_le,
        count(*) over (order by monetary asc) as monetary_n_le
    from measured

),

scored as (

    select
        *,
        cast(ceil(5.0 * recency_n_le / customers_total) as {{ dbt.type_int() }}) as r_score,
        cast(ceil(5.0 * frequency_n_le / customers_total) as {{ dbt.type_int() }}) as f_score,
        cast(ceil(5.0 * monetary_n_le / customers_total) as {{ dbt.type_int() }}) as m_score
    from ranked

),

with_fm as (

    select
        *,
        cast(ceil((f_score + m_score) / 2.0) as {{ dbt.type_int() }}) as fm_score
    from scored

),

named as (

    select
        with_fm.person_id,
        segment_map.rfm_segment,
        row_number() over (
            partition by with_fm.person_id order by segment_map.priority
        ) as match_rank
    from with_fm
    inner join segment_map
        on
            with_fm.r_score between segment_map.r_score_min and segment_map.r_score_max
            and with_fm.fm_score between segment_map.fm_score_min and segment_map.fm_score_max

),

final as (

    select
        cast(with_fm.person_id as {{ dbt.type_string() }}) as person_id,
        cast(with_fm.user_id as {{ dbt.type_string() }}) as user_id,
        cast(with_fm.first_order_at as {{ dbt.type_timestamp() }}) as first_order_at,
        cast(with_fm.last_order_at as {{ dbt.type_timestamp() }}) as last_order_at,
        with_fm.recency_days,
        cast(with_fm.frequency as {{ dbt.type_bigint() }}) as frequency,
        cast(with_fm.monetary as {{ type_double() }}) as monetary,
        with_fm.r_score,
        with_fm.f_score,
        with_fm.m_score,
        with_fm.fm_score,
        cast(named.rfm_segment as {{ dbt.type_string() }}) as rfm_segment,
        {{ as_of() }} as as_of
    from with_fm
    left join named
        on
            with_fm.person_id = named.person_id
            and named.match_rank = 1

)

select * from final
