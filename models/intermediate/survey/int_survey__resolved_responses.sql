{#- Survey answers resolved to a person: a user_id that is a CRM customer is that person; else
    an email that exactly one customer has (normalised, latest CRM version) is that customer.
    Erased people (by user_id or by email), answers after as_of and rows without a question or
    an answer are left out; so are unresolved rows (unknown user_id and unknown or shared
    email), which the warning test survey_responses_unresolved counts. -#}
with

responses as (

    select * from {{ ref('stg_survey__responses') }}
    where
        question_key is not null
        and answer is not null
        and answered_at is not null
        and {{ is_not_after_as_of('answered_at') }}
        -- an erased person's answers go, whatever email they carry
        and {{ is_not_erased('user_id') }}

),

customers as (

    select
        user_id,
        email
    from {{ ref('stg_crm__customers') }}
    where {{ is_not_erased('user_id') }}

),

unique_emails as (

    select
        email,
        min(user_id) as user_id
    from customers
    where email is not null
    group by email
    having count(*) = 1

),

resolved as (

    select
        responses.response_id,
        coalesce(by_user_id.user_id, by_email.user_id) as person_id,
        case
            when by_user_id.user_id is not null then 'user_id'
            when by_email.user_id is not null then 'email'
        end as resolved_by,
        responses.question_key,
        responses.answer,
        responses.answered_at
    from responses
    left join customers as by_user_id
        on responses.user_id = by_user_id.user_id
    left join unique_emails as by_email
        on responses.email = by_email.email

),

final as (

    select
        response_id,
        person_id,
        resolved_by,
        question_key,
        answer,
        answered_at
    from resolved
    where person_id is not null

)

select * from final
