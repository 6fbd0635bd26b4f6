{#- The orders fact for analysts and BI: every row of int_shop__orders (orders with their
    line counts, erased people excluded), as a view so the warehouse keeps one copy. -#}
{{ config(materialized='view') }}

with

orders as (

    select * from {{ ref('int_shop__orders') }}

),

final as (

    select * from orders

)

select * from final
