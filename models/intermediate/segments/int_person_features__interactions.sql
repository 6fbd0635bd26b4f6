{#- Interaction events per person up to as_of: cta_click, video_play, form_submit and search
    events and the deepest scroll (scroll_depth_percent of page pings, where the tracker
    sends it) per feature window and lifetime, and the latest search term. -#}
{%- set windows = var('feature_windows_days') -%}
{%- set interactions = [
    ('cta_click', 'cta_clicks'),
    ('video_play', 'video_plays'),
    ('form_submit', 'form_submits'),
    ('search', 'searches'),
] -%}
{%- set event_types = [] -%}
{%- for event_type, name in interactions -%}{%- do event_types.append("'" ~ event_type ~ "'") -%}{%- endfor -%}
{%- set periods = [] -%}
{%- for days in windows -%}{%- do periods.append((days ~ 'd', is_within_last('occurred_at', days))) -%}{%- endfor -%}
{%- do periods.append(('lifetime', 'true')) %}

with

events as (

    select * from {{ ref('int_tracker__sessionized_events') }}
    where
        (
            event_type in ({{ event_types | join(', ') }})
            or scroll_depth_percent is not null
        )
        and {{ is_not_after_as_of('occurred_at') }}

),

searches as (

    -- the latest search with a term (ties on time: the highest event_id)
    select
        person_id,
        search_term,
        row_number() over (
            partition by person_id order by occurred_at desc, event_id desc
        ) as search_rank
    from events
    where event_type = 'search' and search_term is not null

),

counts as (

    select
        person_id,
        {% for suffix, condition in periods -%}
            {% for event_type, name in interactions -%}
                sum(case when event_type = '{{ event_type }}' and {{ condition }} then 1 else 0 end)
                    as {{ name }}_{{ suffix }},
            {% endfor -%}
            max(case when {{ condition }} then scroll_depth_percent end)
                as max_scroll_depth_percent_{{ suffix }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from events
    group by person_id

),

final as (

    select
        counts.*,
        searches.search_term as last_search_term
    from counts
    left join searches
        on
            counts.person_id = searches.person_id
            and searches.search_rank = 1

)

select * from final
