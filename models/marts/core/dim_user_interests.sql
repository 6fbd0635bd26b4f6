{#- One row per person of dim_users who answered the survey: their latest interests (a sorted
    list and one boolean per option of var survey_questions.interests), primary value and whom
    they shop for. People without answers are not here (rules and personas read them as
    unanswered). -#}
{%- set interests = var('survey_questions')['interests'] -%}
{%- set interest_answer = "case when latest_answers.question_key = 'interests' then latest_answers.answer end" -%}

with

latest_answers as (

    select * from {{ ref('int_survey__latest_answers') }}

),

people as (

    select person_id from {{ ref('dim_users') }}

),

per_person as (

    select
        latest_answers.person_id,
        -- null, not '', for a person without interests on every engine (Spark joins an empty set to '')
        nullif(
            {{ list_agg_sorted(interest_answer, ',') }},
            ''
        ) as survey_interests,
        {% for option in interests -%}
            max(
                case
                    when latest_answers.question_key = 'interests' and latest_answers.answer = '{{ option }}' then 1
                    else 0
                end
            ) = 1 as interest_{{ option }},
        {% endfor -%}
        -- a single-choice question answered with several options: the alphabetically first
        min(case when latest_answers.question_key = 'values' then latest_answers.answer end)
            as survey_value_primary,
        min(case when latest_answers.question_key = 'shopping_for' then latest_answers.answer end)
            as survey_shopping_for,
        max(latest_answers.answered_at) as survey_answered_at
    from latest_answers
    inner join people
        on latest_answers.person_id = people.person_id
    group by latest_answers.person_id

),

final as (

    select
        cast(person_id as {{ dbt.type_string() }}) as person_id,
        cast(survey_interests as {{ dbt.type_string() }}) as survey_interests,
        {% for option in interests -%}
            interest_{{ option }},
        {% endfor -%}
        cast(survey_value_primary as {{ dbt.type_string() }}) as survey_value_primary,
        cast(survey_shopping_for as {{ dbt.type_string() }}) as survey_shopping_for,
        cast(survey_answered_at as {{ dbt.type_timestamp() }}) as survey_answered_at
    from per_person

)

select * from final
