{#- The persona of each person, with its label, from the `audiences ml` step of this
    build's as_of; empty when the step's tables are absent (macro ml_source_relation). -#}
{%- set assignments = ml_source_relation('persona_assignments') -%}
{%- set personas = ml_source_relation('personas') -%}

{% if assignments is not none and personas is not none %}

    with

    assignments as (

        select * from {{ assignments }}
        where as_of = {{ as_of() }}

    ),

    personas as (

        select * from {{ personas }}
        where as_of = {{ as_of() }}

    ),

    final as (

        select
            cast(assignments.person_id as {{ dbt.type_string() }}) as person_id,
            cast(assignments.persona_key as {{ dbt.type_string() }}) as persona_key,
            cast(personas.label as {{ dbt.type_string() }}) as persona_label,
            cast(assignments.distance as {{ type_double() }}) as persona_distance,
            cast(assignments.probability as {{ type_double() }}) as persona_probability,
            cast(assignments.as_of as {{ dbt.type_timestamp() }}) as as_of
        from assignments
        inner join personas
            on assignments.persona_key = personas.persona_key

    )

    select * from final

{% else %}

    select
        cast(null as {{ dbt.type_string() }}) as person_id,
        cast(null as {{ dbt.type_string() }}) as persona_key,
        cast(null as {{ dbt.type_string() }}) as persona_label,
        cast(null as {{ type_double() }}) as persona_distance,
        cast(null as {{ type_double() }}) as persona_probability,
        cast(null as {{ dbt.type_timestamp() }}) as as_of
    from (select 1 as no_rows) as empty_input
    where 1 = 0

{% endif %}
