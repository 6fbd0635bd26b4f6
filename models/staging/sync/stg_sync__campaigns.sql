{#- The utm_campaign convention of each sync that declares one in syncs.yml, as its last
    run recorded it (source reverse_etl.sync_campaigns); empty before the first run and on
    Spark. -#}
{%- set campaigns = none if target.type == 'spark' else
    existing_source_relation('reverse_etl', 'sync_campaigns') -%}

{% if campaigns is not none %}

    with

    source as (

        select * from {{ campaigns }}

    ),

    final as (

        select
            cast(sync_name as {{ dbt.type_string() }}) as sync_name,
            cast(destination as {{ dbt.type_string() }}) as destination,
            cast(utm_campaign as {{ dbt.type_string() }}) as utm_campaign_convention,
            cast(campaign_prefix as {{ dbt.type_string() }}) as campaign_prefix,
            cast(campaign_suffix as {{ dbt.type_string() }}) as campaign_suffix,
            cast(has_segment_key as {{ dbt.type_boolean() }}) as has_segment_key,
            cast(segment_key as {{ dbt.type_string() }}) as segment_key,
            cast(recorded_at as {{ dbt.type_timestamp() }}) as recorded_at
        from source

    )

    select * from final

{% else %}

    select
        cast(null as {{ dbt.type_string() }}) as sync_name,
        cast(null as {{ dbt.type_string() }}) as destination,
        cast(null as {{ dbt.type_string() }}) as utm_campaign_convention,
        cast(null as {{ dbt.type_string() }}) as campaign_prefix,
        cast(null as {{ dbt.type_string() }}) as campaign_suffix,
        cast(null as {{ dbt.type_boolean() }}) as has_segment_key,
        cast(null as {{ dbt.type_string() }}) as segment_key,
        cast(null as {{ dbt.type_timestamp() }}) as recorded_at
    from (select 1 as no_rows) as empty_input
    where 1 = 0

{% endif %}
