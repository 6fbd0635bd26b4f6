{#- Segment rule language v2 (docs/segments.md): where the rules are declared, the words the
    language knows, and the compilation error every check raises.

    Custom segments are declared under the meta of the model custom_segments, in the properties
    file segments/custom_segments.yml (the project's model-paths include "segments"), so dbt
    reads them like any other configuration and `dbt compile` validates them. -#}


{#- The node that carries the declarations (its properties file is the segments file). -#}
{% macro segment_rules_node() -%}
    {%- if graph.get('nodes') is none -%}{{ return(none) }}{%- endif -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model'
            and node.name == 'custom_segments' and node.package_name == project_name -%}
        {{ return(node) }}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{#- The declared segments (a list of mappings); [] before the graph is loaded. -#}
{% macro segment_rules_declared() -%}
    {%- if not execute -%}{{ return([]) }}{%- endif -%}
    {%- set node = segment_rules_node() -%}
    {%- if node is none -%}{{ return([]) }}{%- endif -%}
    {%- set meta = node.config.get('meta', {}) or {} -%}
    {%- set declared = meta.get('custom_segments', []) -%}
    {%- if declared is none -%}{{ return([]) }}{%- endif -%}
    {%- if declared is string or declared is mapping or declared is not iterable -%}
        {{ exceptions.raise_compiler_error(segment_rules_file()
            ~ ": custom_segments must be a list of segments (name, description, rule)") }}
    {%- endif -%}
    {{ return(declared) }}
{%- endmacro %}

{#- Path of the file declaring the segments, relative to the project root. -#}
{% macro segment_rules_file() -%}
    {%- set node = segment_rules_node() if execute else none -%}
    {%- if node is none or not node.patch_path -%}{{ return('segments/custom_segments.yml') }}{%- endif -%}
    {{ return(node.patch_path.split('://')[-1]) }}
{%- endmacro %}

{#- Every check ends here: the message names the file, the segment and the offending token. -#}
{% macro segment_rule_error(segment_name, message) -%}
    {{ exceptions.raise_compiler_error(
        "Custom segment '" ~ segment_name ~ "' in " ~ segment_rules_file() ~ ": " ~ message) }}
{%- endmacro %}

{#- The vocabulary of event and session conditions. Each filter column maps to its SQL column
    in the scoped event / session relation and a type: text (=, list, not, like), number
    (comparisons, between) or one of the closed sets validated against vars. -#}
{% macro segment_rule_vocabulary() -%}
    {{ return({
        'event_filters': {
            'event_type': 'event_type', 'page_type': 'page_type', 'product_id': 'text',
            'product_category': 'text', 'page_url': 'text', 'utm_source': 'text',
            'utm_medium': 'text', 'utm_campaign': 'text', 'device_type': 'device_type',
            'country': 'text', 'browser': 'text',
            'hour_of_day': 'hour_of_day', 'day_of_week': 'day_of_week'
        },
        'session_filters': {
            'device_type': 'device_type', 'browser': 'text', 'country': 'text',
            'utm_source': 'text', 'utm_medium': 'text', 'utm_campaign': 'text',
            'landing_page_type': 'page_type',
            'hour_of_day': 'hour_of_day', 'day_of_week': 'day_of_week',
            'duration_seconds': 'number', 'page_views': 'number'
        },
        'event_measures': ['count', 'sum_dwell', 'max_dwell', 'distinct_products',
                           'distinct_categories', 'distinct_days', 'distinct_sessions'],
        'session_measures': ['count', 'share', 'distinct_days'],
        'per_columns': ['product_id', 'product_category', 'page_type', 'page_url',
                        'utm_source', 'utm_medium', 'utm_campaign', 'session_id'],
        'comparisons': ['more_than', 'at_least', 'less_than', 'at_most', 'exactly', 'none'],
        'days': {'mon': 1, 'tue': 2, 'wed': 3, 'thu': 4, 'fri': 5, 'sat': 6, 'sun': 7},
        'device_types': ['desktop', 'mobile', 'tablet']
    }) }}
{%- endmacro %}

{#- The built-in segment keys a rule may reference with in_segment / not_in_segment: every
    exact key of the seed segment_catalog, and any key starting with one of its prefixes
    (interested_in_<category>). The data test assert_builtin_segment_keys_match_catalog keeps
    this list equal to the seed. -#}
{% macro builtin_segment_keys() -%}
    {{ return({
        'exact': [
            'high_purchase_intent', 'intent_tier_high', 'intent_tier_medium',
            'high_engagement_on_site', 'potential_buyer',
            'high_engagement', 'low_engagement', 'engaged_user',
            'active_engager', 'occasional_visitor', 'lapsed_user',
            'rfm_champions', 'rfm_loyal_customers', 'rfm_potential_loyalists',
            'rfm_new_customers', 'rfm_promising', 'rfm_need_attention', 'rfm_about_to_sleep',
            'rfm_at_risk', 'rfm_cant_lose_them', 'rfm_hibernating', 'rfm_lost',
            'lapsed_frequent_buyer', 'high_value', 'first_time_visitor', 'new_customer',
            'predicted_buyer'
        ],
        'prefixes': ['interested_in_', 'persona_']
    }) }}
{%- endmacro %}
