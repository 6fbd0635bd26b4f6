{{ config(enabled=(target.type != 'spark')) }}

{#- Segment KPIs per week (Monday starts), the last var kpi_weeks weeks up to as_of. The
    members of a week are today's members of the segment (holdout included) who had entered
    it before the week ended (member_since < period end); the period end of the current week
    is as_of. Every figure is measured as of the period end, so the trend is not rewritten by
    later orders. CLV: docs/decisions/0010-segment-lift-method.md (average order value x
    orders per member per year x expected lifetime 1 / (1 - repeat rate), capped at var
    clv_max_lifetime_years). -#}

with

memberships as (

    select * from {{ ref('segment_memberships') }}

),

orders as (

    select * from {{ ref('fct_orders') }}
    where is_completed

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

weeks as (

    {% for week in range(var('kpi_weeks')) -%}
        select
            {{ week }} as weeks_back
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

periods as (

    select
        cast(
            {{ dbt.dateadd('day', '-7 * weeks_back', dbt.date_trunc('week', as_of())) }}
            as {{ dbt.type_timestamp() }}
        ) as period_start_at
    from weeks

),

period_bounds as (

    select
        period_start_at,
        case
            when {{ dbt.dateadd('day', 7, 'period_start_at') }} < {{ as_of() }}
                then {{ dbt.dateadd('day', 7, 'period_start_at') }}
            else {{ as_of() }}
        end as period_end_at
    from periods

),

member_periods as (

    select
        memberships.person_id,
        memberships.segment_key,
        period_bounds.period_start_at,
        period_bounds.period_end_at
    from memberships
    inner join period_bounds
        on memberships.member_since < period_bounds.period_end_at

),

member_period_orders as (

    select
        member_periods.person_id,
        member_periods.segment_key,
        member_periods.period_start_at,
        count(case when orders.ordered_at >= member_periods.period_start_at then 1 end)
            as period_orders,
        sum(case when orders.ordered_at >= member_periods.period_start_at then orders.order_total end)
            as period_revenue,
        count(*) as orders_to_date,
        sum(orders.order_total) as revenue_to_date,
        count(
            case
                when orders.ordered_at > {{ dbt.dateadd('day', -365, 'member_periods.period_end_at') }}
                    then 1
            end
        ) as orders_last_year
    from member_periods
    inner join orders
        on
            member_periods.person_id = orders.person_id
            and member_periods.period_end_at > orders.ordered_at
    group by member_periods.person_id, member_periods.segment_key, member_periods.period_start_at

),

member_period_sessions as (

    select distinct
        member_periods.person_id,
        member_periods.segment_key,
        member_periods.period_start_at
    from member_periods
    inner join sessions
        on
            member_periods.person_id = sessions.person_id
            and member_periods.period_start_at <= sessions.started_at
            and member_periods.period_end_at > sessions.started_at

),

segment_periods as (

    select
        member_periods.segment_key,
        member_periods.period_start_at,
        count(*) as members,
        count(case when member_period_orders.period_orders > 0 then 1 end) as converted_members,
        sum(member_period_orders.period_orders) as period_orders,
        sum(member_period_orders.period_revenue) as period_revenue,
        count(case when member_period_orders.orders_to_date >= 1 then 1 end) as customers,
        count(case when member_period_orders.orders_to_date >= 2 then 1 end) as repeat_customers,
        sum(member_period_orders.orders_to_date) as orders_to_date,
        sum(member_period_orders.revenue_to_date) as revenue_to_date,
        sum(member_period_orders.orders_last_year) as orders_last_year,
        count(member_period_sessions.person_id) as engaged_members
    from member_periods
    left join member_period_orders
        on
            member_periods.person_id = member_period_orders.person_id
            and member_periods.segment_key = member_period_orders.segment_key
            and member_periods.period_start_at = member_period_orders.period_start_at
    left join member_period_sessions
        on
            member_periods.person_id = member_period_sessions.person_id
            and member_periods.segment_key = member_period_sessions.segment_key
            and member_periods.period_start_at = member_period_sessions.period_start_at
    group by member_periods.segment_key, member_periods.period_start_at

),

rates as (

    select
        segment_key,
        period_start_at,
        members,
        cast(converted_members as {{ type_double() }}) / members as conversion_rate,
        cast(period_revenue as {{ type_double() }}) / nullif(period_orders, 0)
            as average_order_value,
        cast(repeat_customers as {{ type_double() }}) / nullif(customers, 0) as repeat_rate,
        cast(engaged_members as {{ type_double() }}) / members as engaged_rate,
        cast(revenue_to_date as {{ type_double() }}) / nullif(orders_to_date, 0)
            as lifetime_order_value,
        cast(coalesce(orders_last_year, 0) as {{ type_double() }}) / members
            as orders_per_member_year
    from segment_periods

),

final as (

    select
        cast(segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(period_start_at as date) as period_start,
        cast(members as {{ dbt.type_bigint() }}) as members,
        {{ round_double('conversion_rate', 10) }} as conversion_rate,
        {{ round_double('average_order_value', 10) }} as average_order_value,
        {{ round_double('repeat_rate', 10) }} as repeat_rate,
        {{ round_double('engaged_rate', 10) }} as engagement_rate,
        {{ round_double(
            'coalesce(lifetime_order_value, 0) * orders_per_member_year * case'
            ~ ' when repeat_rate is null or repeat_rate >= 1 - 1.0 / '
            ~ var('clv_max_lifetime_years') ~ ' then ' ~ var('clv_max_lifetime_years')
            ~ ' else 1.0 / (1 - repeat_rate) end', 10) }} as clv_estimate
    from rates

)

select * from final
