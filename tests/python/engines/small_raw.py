"""A small, deterministic raw data set for engine tests (all five raw tables).

Used when the project's generator (`audiences.generator`) is not importable; it covers
what the models branch on: duplicate event ids, late loads, tracker and derived sessions,
campaign changes, heartbeats, identified and shared devices, several CRM versions,
erasures, consents, order statuses and email engagement.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from dbt_support import create_raw_tables

AS_OF = "2026-11-24 00:00:00"

_EVENTS = """
insert into raw.events
with base as (
    select
        i,
        i % {devices} as device,
        -- spread over the last 35 days, clustered into visits of a few minutes
        timestamp '{as_of}' - to_seconds(
            ((i * 7919) % 35) * 86400 + ((i * 104729) % 20) * 3600 + (i % 11) * 97
        ) as occurred_at
    from range({events}) as t(i)
)
select
    'e' || i as event_id,
    'a' || device as anonymous_id,
    case when device % 3 = 0 and i % 4 = 0 then 'u' || (device % 97)
         when device % 29 = 0 and i % 5 = 0 then 'u' || ((device + i) % 97) end as user_id,
    case when device % 7 = 0 then 's' || device || '-' || ((i * 7919) % 35) end as session_id,
    (['page_view', 'page_view', 'page_ping', 'page_ping', 'add_to_cart', 'search',
      'begin_checkout', 'purchase', 'page_view', 'remove_from_cart', 'cta_click'])[1 + i % 11]
        as event_type,
    (['home', 'category', 'product', 'product', 'cart', 'checkout', 'content', 'search',
      'account', 'other', 'product'])[1 + (i * 3) % 11] as page_type,
    '/p/' || (i % 53) as page_url,
    case when (i * 3) % 11 in (2, 3, 10) then 'prod' || (i % 23) end as product_id,
    case when (i * 3) % 11 in (2, 3, 10)
         then (['Shoes', 'books', 'garden', 'toys'])[1 + i % 4] end as product_category,
    case when i % 11 in (2, 3) then 5 + (i % 40) end as engaged_seconds,
    case when i % 11 = 5 then (['Tent', 'running shoes', ' lego '])[1 + i % 3] end
        as search_term,
    case when i % 11 in (2, 3) then (i * 37) % 101 end as scroll_depth_percent,
    (['desktop', 'mobile', 'tablet'])[1 + device % 3] as device_type,
    (['firefox', 'chrome', 'safari'])[1 + device % 3] as browser,
    (['linux', 'ios', 'android', 'windows'])[1 + device % 4] as os,
    (['FR', 'DE', 'US'])[1 + device % 3] as country,
    'r' || (device % 5) as region,
    'c' || (device % 9) as city,
    case when i % 13 = 0 then 'https://www.google.com/' end as referrer,
    case when i % 17 = 0 then (['google', 'facebook', ' '])[1 + i % 3] end as utm_source,
    case when i % 17 = 0 then 'cpc' end as utm_medium,
    case when i % 17 = 0 then 'camp' || (i % 2) end as utm_campaign,
    occurred_at,
    occurred_at + to_seconds(case when i % 31 = 0 then 2 * 86400 + i % 5000 else 60 + i % 600 end)
        as loaded_at
from base
"""

_STATEMENTS = [
    # at-least-once delivery: some events arrive twice, later
    """insert into raw.events
       select * replace (loaded_at + interval 1 hour as loaded_at)
       from raw.events where cast(substr(event_id, 2) as integer) % 41 = 0""",
    """insert into raw.customers
       select
           'u' || u,
           case when u % 10 = 0 then null else '  User' || u || '@Example.com ' end,
           case when u % 4 = 0 then '+33 6 12 34 56 ' || lpad(cast(u as varchar), 2, '0') end,
           'First' || u, 'Last' || u,
           date '1970-01-01' + cast(u * 211 as integer),
           (['F', 'm', null])[1 + u % 3],
           (['FR', 'DE', 'US'])[1 + u % 3], 'r' || (u % 5), 'c' || (u % 9), '750' || (u % 20),
           timestamp '2025-01-01' + to_seconds(u * 86400),
           timestamp '2026-06-01' + to_seconds(u * 3600 + v * 86400),
           (u + v) % 3 <> 0, u % 4 <> 1,
           timestamp '2026-06-01' + to_seconds(u * 3600 + v * 86400),
           case when u % 31 = 5 and v = 0 then timestamp '2026-11-01' end
       from range(97) as a(u), range(2) as b(v)
       where v = 0 or u % 5 = 0""",
    """insert into raw.orders
       select
           'o' || o,
           'u' || ((o * 13) % 97),
           timestamp '{as_of}' - to_seconds(((o * 7) % 400) * 86400 + (o % 24) * 3600),
           (['completed', 'completed', 'completed', 'cancelled', 'refunded'])[1 + o % 5],
           cast(5 + (o * 37) % 500 + (o % 100) / 100.0 as decimal(18, 2)),
           'eur',
           timestamp '{as_of}' - to_seconds(((o * 7) % 400) * 86400 + (o % 24) * 3600 - 120)
       from range(400) as t(o)""",
    """insert into raw.order_items
       select
           'o' || o, l, 'prod' || ((o + l) % 23),
           (['Shoes', 'books', 'garden', 'toys'])[1 + (o + l) % 4],
           1 + (o + l) % 3,
           cast(2 + ((o + l) * 17) % 120 + 0.99 as decimal(18, 2))
       from range(400) as t(o), range(1, 4) as n(l)
       where l <= 1 + o % 3""",
    """insert into raw.email_events
       select
           'm' || m,
           'u' || (m % 97),
           'cmp' || (m % 6),
           (['send', 'delivered', 'open', 'click', 'bounce', 'unsubscribe', 'spam_report',
             'open', 'click', 'delivered'])[1 + (m * 7) % 10],
           timestamp '{as_of}' - to_seconds(((m * 11) % 60) * 86400 + (m % 24) * 3600),
           timestamp '{as_of}' - to_seconds(((m * 11) % 60) * 86400 + (m % 24) * 3600 - 300)
       from range(3000) as t(m)""",
]


def build_small_raw(
    path: Path, events: int = 20_000, devices: int = 600, use_generator: bool = True
) -> str:
    """Writes the raw tables into the DuckDB file at `path`; returns the as_of to build with.

    Uses the project's generator when it is importable (realistic data), else the
    hand-written edge-case data set below.
    """
    if use_generator:
        try:
            import audiences.generator  # noqa: F401
        except ImportError:
            pass
        else:
            return _build_with_generator(path, events)
    create_raw_tables(path)
    con = duckdb.connect(str(path))
    try:
        con.execute(_EVENTS.format(events=events, devices=devices, as_of=AS_OF))
        for statement in _STATEMENTS:
            con.execute(statement.format(as_of=AS_OF))
    finally:
        con.close()
    return AS_OF.replace(" ", "T")


def _build_with_generator(path: Path, events: int) -> str:
    from datetime import datetime

    from audiences.generator import GenerationConfig, generate

    as_of = datetime.fromisoformat(AS_OF)
    generate(GenerationConfig(db_path=path, events=events, seed=11, as_of=as_of))
    return as_of.isoformat()
