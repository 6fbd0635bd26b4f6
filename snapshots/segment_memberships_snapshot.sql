{#- History of segment memberships (SCD type 2). One row per membership interval: a
    membership (person, segment) that appears opens a row; when it disappears from
    segment_memberships the row is closed (dbt_valid_to). Disabled on the Spark target. -#}
{% snapshot segment_memberships_snapshot %}

{{
    config(
        enabled=(target.name != 'spark'),
        unique_key='membership_id',
        strategy='check',
        check_cols=['membership_id'],
        hard_deletes='invalidate'
    )
}}

    select
        membership_id,
        person_id,
        user_id,
        segment_key,
        segment_family,
        is_holdout,
        as_of
    from {{ ref('segment_memberships') }}

{% endsnapshot %}
