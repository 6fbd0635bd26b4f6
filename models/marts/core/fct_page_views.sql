{#- The page_views fact for analysts and BI: every row of int_tracker__page_views (built incrementally
    there), as a view so the warehouse keeps one copy. -#}
{{ config(materialized='view') }}

with

page_views as (

    select * from {{ ref('int_tracker__page_views') }}

),

final as (

    select * from page_views

)

select * from final
