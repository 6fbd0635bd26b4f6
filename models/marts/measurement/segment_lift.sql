{{ config(enabled=(target.type != 'spark')) }}

{#- Lift of every segment: treated (sent) members against holdout members (never sent), per
    metric, measured from each member's member_since over var lift_window_days (capped at
    as_of). Method: docs/decisions/0010-segment-lift-method.md. Destination 'all' counts
    every member; 'ads' and 'email' count only the members such a destination can receive
    (ads consent: Meta, Google; email consent: Braze, HubSpot, Marketo; never erased), in
    both groups alike, so the comparison stays randomised. -#}

with

memberships as (

    select * from {{ ref('segment_memberships') }}
    where member_since <= as_of

),

orders as (

    select * from {{ ref('fct_orders') }}
    where is_completed

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

customers as (

    select * from {{ ref('stg_crm__customers') }}
    where {{ is_not_erased('user_id') }}

),

email_clicks as (

    select * from {{ ref('stg_esp__email_events') }}
    where email_event_type = 'click'

),

members as (

    select
        person_id,
        user_id,
        segment_key,
        is_holdout,
        member_since,
        case
            when {{ dbt.dateadd('day', var('lift_window_days'), 'member_since') }} < as_of
                then {{ dbt.dateadd('day', var('lift_window_days'), 'member_since') }}
            else as_of
        end as window_end
    from memberships

),

member_orders as (

    select
        members.person_id,
        members.segment_key,
        count(*) as orders,
        sum(orders.order_total) as revenue
    from members
    inner join orders
        on
            members.person_id = orders.person_id
            and members.member_since < orders.ordered_at
            and members.window_end >= orders.ordered_at
    group by members.person_id, members.segment_key

),

member_sessions as (

    select
        members.person_id,
        members.segment_key,
        count(*) as sessions
    from members
    inner join sessions
        on
            members.person_id = sessions.person_id
            and members.member_since < sessions.started_at
            and members.window_end >= sessions.started_at
    group by members.person_id, members.segment_key

),

member_clicks as (

    select
        members.person_id,
        members.segment_key,
        count(*) as clicks
    from members
    inner join email_clicks
        on
            members.person_id = email_clicks.user_id
            and members.member_since < email_clicks.occurred_at
            and members.window_end >= email_clicks.occurred_at
    group by members.person_id, members.segment_key

),

member_outcomes as (

    select
        members.user_id,
        members.segment_key,
        members.is_holdout,
        cast(case when member_orders.orders > 0 then 1 else 0 end as {{ type_double() }})
            as conversion_rate,
        cast(coalesce(member_orders.revenue, 0) as {{ type_double() }}) as revenue_per_member,
        cast(coalesce(member_orders.orders, 0) as {{ type_double() }}) as orders_per_member,
        cast(coalesce(member_sessions.sessions, 0) as {{ type_double() }})
            as sessions_per_member,
        cast(case when member_clicks.clicks > 0 then 1 else 0 end as {{ type_double() }})
            as email_click_rate
    from members
    left join member_orders
        on
            members.person_id = member_orders.person_id
            and members.segment_key = member_orders.segment_key
    left join member_sessions
        on
            members.person_id = member_sessions.person_id
            and members.segment_key = member_sessions.segment_key
    left join member_clicks
        on
            members.person_id = member_clicks.person_id
            and members.segment_key = member_clicks.segment_key

),

reach as (

    select
        user_id,
        'ads' as destination
    from customers
    where has_ads_consent

    union all

    select
        user_id,
        'email' as destination
    from customers
    where has_email_consent

),

reached_outcomes as (

    select
        'all' as destination,
        segment_key,
        is_holdout,
        conversion_rate,
        revenue_per_member,
        orders_per_member,
        sessions_per_member,
        email_click_rate
    from member_outcomes

    union all

    select
        reach.destination,
        member_outcomes.segment_key,
        member_outcomes.is_holdout,
        member_outcomes.conversion_rate,
        member_outcomes.revenue_per_member,
        member_outcomes.orders_per_member,
        member_outcomes.sessions_per_member,
        member_outcomes.email_click_rate
    from member_outcomes
    inner join reach
        on member_outcomes.user_id = reach.user_id

),

{%- set metrics = [
    ('conversion_rate', true),
    ('revenue_per_member', false),
    ('orders_per_member', false),
    ('sessions_per_member', false),
    ('email_click_rate', true),
] %}

metric_values as (

    {% for metric, is_rate in metrics -%}
        select
            destination,
            segment_key,
            is_holdout,
            '{{ metric }}' as metric,
            {{ 'true' if is_rate else 'false' }} as is_rate,
            {{ metric }} as metric_value
        from reached_outcomes
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

group_stats as (

    select
        segment_key,
        destination,
        metric,
        is_rate,
        count(case when not is_holdout then 1 end) as treated_members,
        count(case when is_holdout then 1 end) as holdout_members,
        avg(case when not is_holdout then metric_value end) as treated_value,
        avg(case when is_holdout then metric_value end) as holdout_value,
        var_samp(case when not is_holdout then metric_value end) as treated_variance,
        var_samp(case when is_holdout then metric_value end) as holdout_variance
    from metric_values
    group by segment_key, destination, metric, is_rate

),

standard_errors as (

    select
        *,
        treated_value - holdout_value as absolute_lift,
        -- rates: unpooled Wald, p (1 - p) / n; means: Welch, s^2 / n
        sqrt(
            case
                when is_rate
                    then
                        treated_value * (1 - treated_value) / nullif(treated_members, 0)
                        + holdout_value * (1 - holdout_value) / nullif(holdout_members, 0)
                else
                    treated_variance / nullif(treated_members, 0)
                    + holdout_variance / nullif(holdout_members, 0)
            end
        ) as standard_error
    from group_stats

),

final as (

    select
        cast(segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(destination as {{ dbt.type_string() }}) as destination,
        cast({{ var('lift_window_days') }} as integer) as window_days,
        cast(metric as {{ dbt.type_string() }}) as metric,
        cast(treated_members as {{ dbt.type_bigint() }}) as treated_members,
        cast(holdout_members as {{ dbt.type_bigint() }}) as holdout_members,
        {{ round_double('treated_value', 10) }} as treated_value,
        {{ round_double('holdout_value', 10) }} as holdout_value,
        {{ round_double('absolute_lift', 10) }} as absolute_lift,
        {{ round_double('absolute_lift / nullif(holdout_value, 0)', 10) }} as relative_lift,
        {{ round_double('absolute_lift - ' ~ normal_critical_95() ~ ' * standard_error', 10) }}
            as ci_low,
        {{ round_double('absolute_lift + ' ~ normal_critical_95() ~ ' * standard_error', 10) }}
            as ci_high,
        {{ round_double(
            'case when standard_error > 0 then '
            ~ normal_two_sided_p_value('absolute_lift / standard_error')
            ~ ' when standard_error = 0 and absolute_lift = 0 then 1.0'
            ~ ' when standard_error = 0 then 0.0 end', 6) }} as p_value,
        (
            treated_members < {{ var('lift_min_members_per_group') }}
            or holdout_members < {{ var('lift_min_members_per_group') }}
        ) as is_too_small_to_tell
    from standard_errors

)

select * from final
