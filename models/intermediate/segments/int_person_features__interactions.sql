{#- Interaction events per person up to as_of: cta_click, video_play, form_submit and search
    events per feature window and lifetime. -#}
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
        event_type in ({{ event_types | join(', ') }})
        and {{ is_not_after_as_of('occurred_at') }}

),

final as (

    select
        person_id,
        {% for suffix, condition in periods -%}
            {% for event_type, name in interactions -%}
                sum(case when event_type = '{{ event_type }}' and {{ condition }} then 1 else 0 end)
                    as {{ name }}_{{ suffix }}{% if not (loop.last and suffix == 'lifetime') %},{% endif %}
            {% endfor -%}
        {% endfor %}
    from events
    group by person_id

)

select * from final
