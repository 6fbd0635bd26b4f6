-- No audience mart holds a person without the consent for its purpose (email consent for
-- HubSpot / Braze / Marketo, ads consent for Meta / Google), a person who asked for erasure, or a
-- holdout membership. Returns the offending rows.

with

customers as (

    select * from {{ ref('stg_crm__customers') }}

),

holdout as (

    select
        user_id,
        segment_key
    from {{ ref('segment_memberships') }}
    where is_holdout

),

email_audiences as (

    select
        'aud_hubspot_contacts' as audience,
        user_id
    from {{ ref('aud_hubspot_contacts') }}

    union all

    select
        'aud_braze_users' as audience,
        external_id as user_id
    from {{ ref('aud_braze_users') }}

    union all

    select
        'aud_marketo_leads' as audience,
        user_id
    from {{ ref('aud_marketo_leads') }}

),

ads_audiences as (

    select
        'aud_meta_custom_audience' as audience,
        user_id,
        segment_key
    from {{ ref('aud_meta_custom_audience') }}

    union all

    select
        'aud_google_customer_match' as audience,
        user_id,
        segment_key
    from {{ ref('aud_google_customer_match') }}

),

email_violations as (

    select
        email_audiences.audience,
        email_audiences.user_id,
        cast(null as {{ dbt.type_string() }}) as segment_key,
        case
            when customers.user_id is null then 'not in the CRM'
            when customers.is_erased then 'erased'
            else 'no email consent'
        end as violation
    from email_audiences
    left join customers
        on email_audiences.user_id = customers.user_id
    where
        customers.user_id is null
        or customers.is_erased
        or not customers.has_email_consent

),

ads_violations as (

    select
        ads_audiences.audience,
        ads_audiences.user_id,
        ads_audiences.segment_key,
        case
            when customers.user_id is null then 'not in the CRM'
            when customers.is_erased then 'erased'
            when holdout.user_id is not null then 'holdout member'
            else 'no ads consent'
        end as violation
    from ads_audiences
    left join customers
        on ads_audiences.user_id = customers.user_id
    left join holdout
        on
            ads_audiences.user_id = holdout.user_id
            and ads_audiences.segment_key = holdout.segment_key
    where
        customers.user_id is null
        or customers.is_erased
        or not customers.has_ads_consent
        or holdout.user_id is not null

)

select * from email_violations
union all
select * from ads_violations
