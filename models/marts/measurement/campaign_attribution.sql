{{ config(enabled=(target.type != 'spark')) }}

{#- Conversions and revenue per audience campaign. A session belongs to a campaign by its
    utm_campaign: first by the convention a sync declares in syncs.yml (`utm_campaign:`, as
    the sync's last run recorded it in stg_sync__campaigns; the most specific convention
    wins, then the most recently recorded), else by the default convention
    var campaign_prefix || segment_key (aud_<segment_key>, sync_name null). A completed order
    is credited to one campaign session of the same person started at most
    var attribution_window_days before it: the earliest (first_touch) or the latest
    (last_touch). Naming: docs/measurement.md. -#}

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

sync_campaigns as (

    select * from {{ ref('stg_sync__campaigns') }}

),

tagged_sessions as (

    select
        session_id,
        person_id,
        started_at,
        utm_campaign
    from sessions
    where
        started_at <= {{ as_of() }}
        and utm_campaign is not null

),

sync_matches as (

    select
        tagged_sessions.session_id,
        sync_campaigns.sync_name,
        case
            when sync_campaigns.has_segment_key
                then
                    substr(
                        tagged_sessions.utm_campaign,
                        {{ dbt.length('sync_campaigns.campaign_prefix') }} + 1,
                        {{ dbt.length('tagged_sessions.utm_campaign') }}
                        - {{ dbt.length('sync_campaigns.campaign_prefix') }}
                        - {{ dbt.length('sync_campaigns.campaign_suffix') }}
                    )
            else sync_campaigns.segment_key
        end as segment_key,
        row_number() over (
            partition by tagged_sessions.session_id
            order by
                {{ dbt.length('sync_campaigns.campaign_prefix') }}
                + {{ dbt.length('sync_campaigns.campaign_suffix') }} desc,
                sync_campaigns.recorded_at desc,
                sync_campaigns.sync_name asc
        ) as match_rank
    from tagged_sessions
    inner join sync_campaigns
        on
            (
                sync_campaigns.has_segment_key
                and {{ dbt.length('tagged_sessions.utm_campaign') }}
                > {{ dbt.length('sync_campaigns.campaign_prefix') }}
                + {{ dbt.length('sync_campaigns.campaign_suffix') }}
                and substr(
                    tagged_sessions.utm_campaign,
                    1,
                    {{ dbt.length('sync_campaigns.campaign_prefix') }}
                ) = sync_campaigns.campaign_prefix
                and {{ dbt.right(
                    'tagged_sessions.utm_campaign',
                    dbt.length('sync_campaigns.campaign_suffix')) }}
                = sync_campaigns.campaign_suffix
            )
            or (
                not sync_campaigns.has_segment_key
                and tagged_sessions.utm_campaign = sync_campaigns.campaign_prefix
            )

),

campaign_sessions as (

    select
        tagged_sessions.session_id,
        tagged_sessions.person_id,
        tagged_sessions.started_at,
        tagged_sessions.utm_campaign,
        sync_matches.sync_name,
        case
            when sync_matches.session_id is not null then sync_matches.segment_key
            else substr(tagged_sessions.utm_campaign, {{ var('campaign_prefix') | length + 1 }})
        end as segment_key
    from tagged_sessions
    left join sync_matches
        on
            tagged_sessions.session_id = sync_matches.session_id
            and sync_matches.match_rank = 1
    where
        sync_matches.session_id is not null
        or (
            substr(tagged_sessions.utm_campaign, 1, {{ var('campaign_prefix') | length }})
            = '{{ var('campaign_prefix') }}'
            and {{ dbt.length('tagged_sessions.utm_campaign') }}
            > {{ var('campaign_prefix') | length }}
        )

),

touches as (

    select
        orders.order_id,
        orders.order_total,
        campaign_sessions.utm_campaign,
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
        'first_touch' as attribution_model,
        order_total
    from touches
    where first_rank = 1

    union all

    select
        utm_campaign,
        'last_touch' as attribution_model,
        order_total
    from touches
    where last_rank = 1

),

campaigns as (

    select
        utm_campaign,
        sync_name,
        segment_key,
        count(*) as sessions
    from campaign_sessions
    group by utm_campaign, sync_name, segment_key

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
        cast(campaigns.sync_name as {{ dbt.type_string() }}) as sync_name,
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
