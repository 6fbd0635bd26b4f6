{#- Purchase propensity per person from the `audiences ml` step of this build's as_of;
    empty when the step's table is absent (macro ml_source_relation). -#}
{%- set scores = ml_source_relation('propensity_scores') -%}

{% if scores is not none %}

    with

    scores as (

        select * from {{ scores }}
        where as_of = {{ as_of() }}

    ),

    final as (

        select
            cast(person_id as {{ dbt.type_string() }}) as person_id,
            cast(purchase_probability_7d as {{ type_double() }}) as purchase_probability_7d,
            cast(decile as {{ dbt.type_int() }}) as propensity_decile,
            cast(as_of as {{ dbt.type_timestamp() }}) as as_of
        from scores

    )

    select * from final

{% else %}

    select
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ type_double() }}) as purchase_probability_7d,
        cast(null as {{ dbt.type_int() }}) as propensity_decile,
        cast(null as {{ dbt.type_timestamp() }}) as as_of
    from (select 1 as no_rows) as empty_input
    where 1 = 0

{% endif %}
