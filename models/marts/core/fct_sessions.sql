{#- The sessions fact for analysts and BI: every row of int_tracker__sessions (built incrementally
    there), as a view so the warehouse keeps one copy without the bookkeeping column
    built_at (and on Spark the partition column device_bucket). -#}
{{ config(materialized='view') }}

with

sessions as (

    select {{ fact_columns(ref('int_tracker__sessions')) }}
    from {{ ref('int_tracker__sessions') }}

),

final as (

    select * from sessions

)

select * from final
