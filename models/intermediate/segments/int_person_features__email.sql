{#- Email engagement per person. Rates are distinct campaigns opened (clicked) over
    distinct campaigns sent in the same window, capped at 1; null when nothing was sent. -#}
{%- set windows = var('feature_windows_days') -%}

with

email_events as (

    select * from {{ ref('stg_esp__email_events') }}
    where
        user_id is not null
        and {{ is_not_after_as_of('occurred_at') }}

),

kept_email_events as (

    select * from email_events
    where {{ is_not_erased('user_id') }}

),

{%- set periods = [] -%}
{%- for days in windows -%}{%- do periods.append((days ~ 'd', is_within_last('occurred_at', days))) -%}{%- endfor -%}
{%- do periods.append(('lifetime', 'true')) %}

counts as (

    select
        user_id,
        {% for suffix, condition in periods -%}
            sum(case when email_event_type = 'open' and {{ condition }} then 1 else 0 end)
                as email_opens_{{ suffix }},
            sum(case when email_event_type = 'click' and {{ condition }} then 1 else 0 end)
                as email_clicks_{{ suffix }},
            count(distinct case when email_event_type = 'send' and {{ condition }} then campaign_id end)
                as campaigns_sent_{{ suffix }},
            count(distinct case when email_event_type = 'open' and {{ condition }} then campaign_id end)
                as campaigns_opened_{{ suffix }},
            count(distinct case when email_event_type = 'click' and {{ condition }} then campaign_id end)
                as campaigns_clicked_{{ suffix }},
        {% endfor -%}
        max(occurred_at) as last_email_event_at
    from kept_email_events
    group by user_id

),

final as (

    select
        user_id as person_id,
        {% for suffix, condition in periods -%}
            email_opens_{{ suffix }},
            email_clicks_{{ suffix }},
            case
                when campaigns_sent_{{ suffix }} > 0
                    then least(
                            1.0,
                            cast(campaigns_opened_{{ suffix }} as {{ type_double() }})
                            / campaigns_sent_{{ suffix }}
                        )
            end as email_open_rate_{{ suffix }},
            case
                when campaigns_sent_{{ suffix }} > 0
                    then least(
                            1.0,
                            cast(campaigns_clicked_{{ suffix }} as {{ type_double() }})
                            / campaigns_sent_{{ suffix }}
                        )
            end as email_click_rate_{{ suffix }},
        {% endfor -%}
        user_id
    from counts

)

select * from final
