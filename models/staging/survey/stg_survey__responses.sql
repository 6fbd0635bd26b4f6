{#- Survey answers, typed: keys and answers trimmed and lower-cased, the email normalised like
    the CRM's. Empty when the warehouse has no raw.survey_responses (an optional table). -#}
{%- set responses = existing_source_relation('survey', 'survey_responses') -%}

{% if responses is not none %}

    with

    source as (

        select * from {{ responses }}

    ),

    final as (

        select
            cast(response_id as {{ dbt.type_string() }}) as response_id,
            nullif(trim(cast(user_id as {{ dbt.type_string() }})), '') as user_id,
            {{ normalize_email('cast(email as ' ~ dbt.type_string() ~ ')') }} as email,
            nullif(lower(trim(cast(question_key as {{ dbt.type_string() }}))), '') as question_key,
            nullif(lower(trim(cast(answer as {{ dbt.type_string() }}))), '') as answer,
            cast(answered_at as {{ dbt.type_timestamp() }}) as answered_at
        from source

    )

    select * from final

{% else %}

    select
        cast(null as {{ dbt.type_string() }}) as response_id,
        cast(null as {{ dbt.type_string() }}) as user_id,
        cast(null as {{ dbt.type_string() }}) as email,
        cast(null as {{ dbt.type_string() }}) as question_key,
        cast(null as {{ dbt.type_string() }}) as answer,
        cast(null as {{ dbt.type_timestamp() }}) as answered_at
    from (select 1 as no_rows) as empty_input
    where 1 = 0

{% endif %}
