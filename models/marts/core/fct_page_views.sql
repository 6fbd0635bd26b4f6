{#- The page_views fact for analysts and BI: every row of int_tracker__page_views (built incrementally
    there), as a view so the warehouse keeps one copy without the bookkeeping column
    built_at (and on Spark the partition column device_bucket). -#}
{{ config(materialized='view') }}

with

page_views as (

    select {{ fact_columns(ref('int_tracker__page_views')) }}
    from {{ ref('int_tracker__page_views') }}

),

final as (

    select * from page_views

)

select * from final
