{#- Recommended products per person (best first) from the `audiences ml` step of this
    build's as_of; empty when the step's table is absent (macro ml_source_relation). -#}
{%- set recommendations = ml_source_relation('product_recommendations') -%}

{% if recommendations is not none %}

    with

    recommendations as (

        select * from {{ recommendations }}
        where as_of = {{ as_of() }}

    ),

    final as (

        select
            cast(person_id as {{ dbt.type_string() }}) as person_id,
            cast(product_id as {{ dbt.type_string() }}) as product_id,
            cast({{ adapter.quote('rank') }} as {{ dbt.type_int() }}) as recommendation_rank,
            cast(score as {{ type_double() }}) as recommendation_score,
            cast(source as {{ dbt.type_string() }}) as recommendation_source,
            cast(as_of as {{ dbt.type_timestamp() }}) as as_of
        from recommendations

    )

    select * from final

{% else %}

    select
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as product_id,
        cast(null as {{ dbt.type_int() }}) as recommendation_rank,
        cast(null as {{ type_double() }}) as recommendation_score,
        cast(null as {{ dbt.type_string() }}) as recommendation_source,
        cast(null as {{ dbt.type_timestamp() }}) as as_of
    from (select 1 as no_rows) as empty_input
    where 1 = 0

{% endif %}
