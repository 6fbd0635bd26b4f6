{#- The sessions fact for analysts and BI: every row of int_tracker__sessions (built incrementally
    there), as a view so the warehouse keeps one copy (on Spark without the partition column
    device_bucket). -#}
{{ config(materialized='view') }}

with

sessions as (

    select {{ columns_without_device_bucket(ref('int_tracker__sessions')) }}
    from {{ ref('int_tracker__sessions') }}

),

final as (

    select * from sessions

)

select * from final
