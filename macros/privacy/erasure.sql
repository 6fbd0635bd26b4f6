{#- True when the user id is not one of an erased person (int_privacy__erased_users);
    anonymous rows (null user id) are kept. The one erasure filter of the project: use it
    wherever rows keyed by a user id enter a model. -#}
{% macro is_not_erased(user_id_sql) -%}
    (
        {{ user_id_sql }} is null
        or {{ user_id_sql }} not in (
            select erased_users.user_id from {{ ref('int_privacy__erased_users') }} as erased_users
        )
    )
{%- endmacro %}
