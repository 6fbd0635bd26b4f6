{{ config(enabled=(target.type != 'spark')) }}

{#- Conversions and revenue per audience campaign. A session belongs to the campaign of its
    utm_campaign when it follows the convention var campaign_prefix || segment_key
    (default aud_<segment_key>, docs/measurement.md). A completed order is credited to one
    campaign session of the same person started at most var attribution_window_days before
    it: the earliest (first_touch) or the latest (last_touch). sync_name stays null under the
    default convention: it names the segment, not the sync. -#}

with

sessions as (

    select * from {{ ref('fct_sessions') }}

),

orders as (

    select
        *,
        {{ dbt.dateadd('day', -1 * var('attribution_window_days'), 'ordered_at') }}
            as window_start_at
    from {{ ref('fct_orders') }}
    where is_completed and ordered_at <= {{ as_of() }}

),

campaign_sessions as (

    select
        session_id,
        person_id,
        started_at,
        utm_campaign,
        substr(utm_campaign, {{ var('campaign_prefix') | length + 1 }}) as segment_key
    from sessions
    where
        started_at <= {{ as_of() }}
        and substr(utm_campaign, 1, {{ var('campaign_prefix') | length }})
        = '{{ var('campaign_prefix') }}'
        and {{ dbt.length('utm_campaign') }} > {{ var('campaign_prefix') | length }}

),

touches as (

    select
        orders.order_id,
        orders.order_total,
        campaign_sessions.utm_campaign,
        campaign_sessions.segment_key,
        row_number() over (
            partition by orders.order_id
            order by campaign_sessions.started_at asc, campaign_sessions.session_id asc
        ) as first_rank,
        row_number() over (
            partition by orders.order_id
            order by campaign_sessions.started_at desc, campaign_sessions.session_id desc
        ) as last_rank
    from orders
    inner join campaign_sessions
        on
            orders.person_id = campaign_sessions.person_id
            and orders.ordered_at >= campaign_sessions.started_at
            and orders.window_start_at < campaign_sessions.started_at

),

credited as (

    select
        utm_campaign,
        segment_key,
        'first_touch' as attribution_model,
        order_total
    from touches
    where first_rank = 1

    union all

    select
        utm_campaign,
        segment_key,
        'last_touch' as attribution_model,
        order_total
    from touches
    where last_rank = 1

),

campaigns as (

    select
        utm_campaign,
        segment_key,
        count(*) as sessions
    from campaign_sessions
    group by utm_campaign, segment_key

),

models as (

    select 'first_touch' as attribution_model
    union all
    select 'last_touch' as attribution_model

),

credit_totals as (

    select
        utm_campaign,
        attribution_model,
        count(*) as conversions,
        sum(order_total) as revenue
    from credited
    group by utm_campaign, attribution_model

),

final as (

    select
        cast(campaigns.utm_campaign as {{ dbt.type_string() }}) as utm_campaign,
        cast(null as {{ dbt.type_string() }}) as sync_name,
        cast(campaigns.segment_key as {{ dbt.type_string() }}) as segment_key,
        cast(models.attribution_model as {{ dbt.type_string() }}) as attribution_model,
        cast(campaigns.sessions as {{ dbt.type_bigint() }}) as sessions,
        cast(coalesce(credit_totals.conversions, 0) as {{ dbt.type_bigint() }}) as conversions,
        {{ round_double('coalesce(credit_totals.revenue, 0)', 2) }} as revenue
    from campaigns
    cross join models
    left join credit_totals
        on
            campaigns.utm_campaign = credit_totals.utm_campaign
            and models.attribution_model = credit_totals.attribution_model

)

select * from final
