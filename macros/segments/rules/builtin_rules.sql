{#- The built-in segments whose rule can be written in the rule language, written in it, so
    `audiences explain` shows their conditions like a custom segment's. The family marts stay
    the definition; the data test assert_builtin_rules_match_family_marts proves that each rule
    here selects exactly the members its family mart holds, so an explanation can never
    disagree with a membership. Keys missing here (high_value, new_customer,
    potential_buyer, interested_in_<category>) are explained by membership and score only. -#}
{% macro builtin_segment_rules() -%}
    {%- set content_active = {'all': [
        {'column': 'content_recency_days', 'op': '<', 'value': var('content_active_max_recency_days')},
        {'column': 'content_active_days', 'op': '>=', 'value': var('content_active_min_days')},
        {'column': 'avg_content_dwell_seconds', 'op': '>=', 'value': var('content_active_min_avg_dwell_seconds')}]} -%}
    {%- set rules = {
        'high_purchase_intent': {'all': [
            {'column': 'intent_page_views', 'op': '>', 'value': var('high_intent_min_page_views')},
            {'column': 'longest_intent_dwell_seconds', 'op': '>', 'value': var('high_intent_min_dwell_seconds')}]},
        'intent_tier_high': {'column': 'intent_tier', 'op': '=', 'value': 'high'},
        'intent_tier_medium': {'column': 'intent_tier', 'op': '=', 'value': 'medium'},
        'high_engagement_on_site': {'column': 'time_on_site_seconds_' ~ var('on_site_window_days') ~ 'd',
            'op': '>', 'value': var('on_site_min_seconds')},
        'high_engagement': {'column': 'key_page_seconds_high_window', 'op': '>', 'value': var('high_engagement_min_seconds')},
        'engaged_user': {'column': 'engaged_sessions', 'op': '>', 'value': 0},
        'low_engagement': {'all': [
            {'column': 'key_page_seconds_low_window', 'op': '<', 'value': var('low_engagement_max_seconds')},
            {'not': {'column': 'key_page_seconds_high_window', 'op': '>', 'value': var('high_engagement_min_seconds')}},
            {'not': {'column': 'engaged_sessions', 'op': '>', 'value': 0}},
            {'not': content_active}]},
        'active_engager': content_active,
        'occasional_visitor': {'all': [
            {'column': 'content_recency_days', 'op': '<', 'value': var('content_lapsed_after_days')},
            {'not': content_active}]},
        'lapsed_user': {'column': 'content_recency_days', 'op': '>=', 'value': var('content_lapsed_after_days')},
        'lapsed_frequent_buyer': {'all': [
            {'column': 'orders_lifetime', 'op': '>=', 'value': var('lapsed_buyer_min_orders')},
            {'column': 'days_since_last_order', 'op': '>=', 'value': var('lapsed_buyer_inactive_days')}]},
        'first_time_visitor': {'all': [
            {'column': 'sessions_lifetime', 'op': '=', 'value': 1},
            {'sessions': {'within': var('first_time_visitor_days') ~ 'd', 'at_least': 1}}]}
    } -%}
    {%- set declared = [] -%}
    {%- for key, rule in rules.items() -%}
        {%- do declared.append({'name': key, 'description': 'built-in', 'rule': rule}) -%}
    {%- endfor -%}
    {%- for name in ['champions', 'loyal_customers', 'potential_loyalists', 'new_customers',
                     'promising', 'need_attention', 'about_to_sleep', 'at_risk',
                     'cant_lose_them', 'hibernating', 'lost'] -%}
        {%- do declared.append({'name': 'rfm_' ~ name, 'description': 'built-in',
            'rule': {'column': 'rfm_segment', 'op': '=', 'value': name}}) -%}
    {%- endfor -%}
    {{ return(declared) }}
{%- endmacro %}
