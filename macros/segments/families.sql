{#- The built-in segment families: one membership model per family in models/marts/segments,
    named <family>_segments, each holding that family's whole rule and returning
    person_id, segment_key, segment_family, score, member_since. segment_memberships unions
    them (plus custom_segments); the custom segment compiler resolves references to
    built-in segments through the same list. -#}
{% macro builtin_segment_family_models() -%}
    {{ return([
        'purchase_intent_segments',
        'multi_criteria_segments',
        'engagement_segments',
        'content_engagement_segments',
        'rfm_segments',
        'lifecycle_segments',
        'persona_segments',
        'predicted_buyer_segments',
    ]) }}
{%- endmacro %}

{#- The intent tier of an intent score: 'high' from var intent_tier_high_min_score,
    'medium' from var intent_tier_medium_min_score, else 'low'. Used by the purchase_intent
    score mart (the tier the destinations receive) and by purchase_intent_segments. -#}
{% macro intent_tier(score_sql) -%}
    case
        when {{ score_sql }} >= {{ var('intent_tier_high_min_score') }} then 'high'
        when {{ score_sql }} >= {{ var('intent_tier_medium_min_score') }} then 'medium'
        else 'low'
    end
{%- endmacro %}

{#- An RFM score 1-5 (docs/decisions/0002-rfm-tie-rule.md) from integer positions: the
    value's doubled mid-rank, and those of the worst and the best value. The worst value
    scores 1, the best 5, the positions between fall into five equal bands; when every
    customer has the same value (worst = best) everyone scores 1. Integer counts and one
    division, so no engine's rounding decides a boundary differently. -#}
{% macro rfm_band_score(position, worst, best) -%}
    cast(case
        when {{ best }} = {{ worst }} then 1
        else least(
            5,
            1 + floor(
                5.0 * ({{ position }} - {{ worst }}) / ({{ best }} - {{ worst }})
            )
        )
    end as {{ dbt.type_int() }})
{%- endmacro %}

{#- The page types that count as key pages for the engagement family: var key_page_types,
    plus var content_page_types when var key_pages_include_content is true (the default:
    reading content is engagement). Returned as a quoted SQL list: 'product', 'content'. -#}
{% macro key_page_types_sql() -%}
    {%- set page_types = var('key_page_types') | list -%}
    {%- if var('key_pages_include_content') -%}
        {%- for page_type in var('content_page_types') -%}
            {%- if page_type not in page_types -%}{%- do page_types.append(page_type) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    '{{ page_types | join("', '") }}'
{%- endmacro %}
