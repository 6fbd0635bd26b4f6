{#- The sessions fact for analysts and BI: every row of int_tracker__sessions (built incrementally
    there), as a view so the warehouse keeps one copy. -#}
{{ config(materialized='view') }}

with

sessions as (

    select * from {{ ref('int_tracker__sessions') }}

),

final as (

    select * from sessions

)

select * from final
