{#- Survey answers (up to as_of, with a question and an answer) that could not be tied to a
    person: an unknown user_id with an unknown or shared email. They are kept out of
    dim_user_interests; a warning counts them so a loader fault (a wrong hidden field, a form
    without the email) is seen. Answers of erased people are left out on purpose and not
    counted. -#}
{{ config(severity='warn') }}

with

responses as (

    select * from {{ ref('stg_survey__responses') }}
    where
        question_key is not null
        and answer is not null
        and answered_at is not null
        and {{ is_not_after_as_of('answered_at') }}
        and {{ is_not_erased('user_id') }}

),

erased_emails as (

    select distinct email from {{ ref('stg_crm__customers') }}
    where is_erased and email is not null

),

resolved as (

    select distinct response_id from {{ ref('int_survey__resolved_responses') }}

),

final as (

    select
        responses.response_id,
        responses.user_id,
        responses.question_key
    from responses
    left join resolved
        on responses.response_id = resolved.response_id
    left join erased_emails
        on responses.email = erased_emails.email
    where resolved.response_id is null and erased_emails.email is null

)

select * from final
