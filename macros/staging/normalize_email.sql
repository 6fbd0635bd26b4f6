{#- An email address as the project compares it: trimmed, lower-cased, null when blank. Every
    model that reads an email (CRM, survey answers) normalises it with this one macro, so an
    email typed " Ava.Martin@Example.com" matches the CRM's "ava.martin@example.com". -#}
{% macro normalize_email(expression) -%}
    nullif(lower(trim({{ expression }})), '')
{%- endmacro %}
