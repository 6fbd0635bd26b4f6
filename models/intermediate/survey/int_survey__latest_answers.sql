{#- The latest answer of each person to each question: every option chosen in the person's
    latest response to it (latest answered_at; of two responses submitted at the same instant,
    the greater response_id). An earlier response never adds options to a later one. -#}
with

resolved_responses as (

    select * from {{ ref('int_survey__resolved_responses') }}

),

ranked as (

    select
        person_id,
        question_key,
        answer,
        answered_at,
        response_id,
        dense_rank() over (
            partition by person_id, question_key
            order by answered_at desc, response_id desc
        ) as response_rank
    from resolved_responses

),

final as (

    select distinct
        person_id,
        question_key,
        answer,
        answered_at,
        response_id
    from ranked
    where response_rank = 1

)

select * from final
