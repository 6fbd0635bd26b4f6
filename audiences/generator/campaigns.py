"""A planted campaign effect, so the lift marts have something real to measure.

After the base tables are generated (still in the writer's staging tables), the members of
the segment `new_customer` are found exactly as dbt finds them (first completed order in
(as_of - NEW_CUSTOMER_DAYS, as_of], erased people excluded) and split into treated and
holdout with the project's holdout rule (docs/decisions/0004-holdout.md), whose one Python
definition is `audiences.realtime.evaluator.evaluate.is_holdout` (shared with the real-time
path). Each TREATED member gets, with probability `PlantedEffect.extra_order_probability`,
one extra completed order inside their lift window (member_since, member_since +
LIFT_WINDOW_DAYS], capped at as_of, with a landing page view a few minutes before it whose
utm_campaign follows the attribution convention `aud_<segment_key>` (docs/measurement.md)
and the purchase event every order in the event window has. Holdout members get nothing,
and NO_EFFECT_SEGMENT gets nothing: its lift must be zero.

The extra orders do not change who is a new customer (their first order stays the first) and
come from their own random stream and id salt: every other generated row is unchanged for the
same seed. Only the base slice is planted (not `--append` slices).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from audiences.generator import commerce
from audiences.generator.catalog import catalog, category_names
from audiences.generator.commerce import DAY, MIN, SEC
from audiences.generator.ids import decimals, hex_ids, lookup, timestamps, uuid_ids
from audiences.generator.writer import STAGING_PREFIX, Writer, quote
from audiences.realtime.evaluator.evaluate import holdout_bucket, is_holdout

# must equal the dbt vars of the same meaning (dbt_project.yml)
HOLDOUT_PERCENT = 10  # var holdout_percent
NEW_CUSTOMER_DAYS = 30  # var new_customer_days
LIFT_WINDOW_DAYS = 14  # var lift_window_days

CAMPAIGN_PREFIX = "aud_"  # attribution convention: utm_campaign = aud_<segment_key>
NO_EFFECT_SEGMENT = "high_value"  # nothing is planted for it: its lift must be zero


@dataclass(frozen=True)
class PlantedEffect:
    """Treated members of `segment_key` get one extra order with this probability: the
    expected absolute lift of orders_per_member is exactly `extra_order_probability`."""

    segment_key: str
    extra_order_probability: float

    @property
    def utm_campaign(self) -> str:
        return CAMPAIGN_PREFIX + self.segment_key


PLANTED_EFFECT = PlantedEffect("new_customer", 0.5)


@dataclass(frozen=True)
class SegmentMembers:
    """Members of a segment at as_of: person ids, member_since (ms) and holdout flags."""

    person_id: np.ndarray  # object (str)
    member_since: np.ndarray  # int64 ms
    is_holdout: np.ndarray  # bool


def new_customer_members(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    as_of_ms: int,
    table_prefix: str = "",
    holdout_percent: float = HOLDOUT_PERCENT,
) -> SegmentMembers:
    """The dbt segment new_customer (models/marts/segments/lifecycle_segments.sql) over the
    raw tables `<schema>.<table_prefix>orders` / `customers`: orders de-duplicated by order_id
    as stg_shop__orders does (latest loaded_at, then status), completed, not after as_of,
    of people who did not ask for erasure; first order in (as_of - 30 days, as_of]."""
    orders = f"{quote(schema)}.{quote(table_prefix + 'orders')}"
    customers = f"{quote(schema)}.{quote(table_prefix + 'customers')}"
    rows = con.execute(
        f"""
        with versions as (
            select
                user_id, ordered_at, lower(status) as status,
                row_number() over (
                    partition by order_id order by loaded_at desc, lower(status) asc
                ) as version_rank
            from {orders}
        ),
        erased as (
            select user_id from {customers}
            where deleted_at is not null and user_id is not null
        ),
        firsts as (
            select user_id, min(ordered_at) as first_order_at
            from versions
            where version_rank = 1 and status = 'completed'
                and ordered_at <= make_timestamp($as_of * 1000)
                and user_id is not null
                and user_id not in (select user_id from erased)
            group by user_id
        )
        select user_id, epoch_ms(first_order_at)
        from firsts
        where first_order_at > make_timestamp($as_of * 1000) - to_days($days)
        order by user_id
        """,
        {"as_of": as_of_ms, "days": NEW_CUSTOMER_DAYS},
    ).fetchall()
    person = np.array([r[0] for r in rows], dtype=object)
    since = np.array([r[1] for r in rows], dtype=np.int64)
    holdout = np.array([is_holdout(p, "new_customer", holdout_percent) for p in person], dtype=bool)
    return SegmentMembers(person, since, holdout)


def _latest_devices(
    con: duckdb.DuckDBPyConnection, schema: str, user_ids: np.ndarray
) -> dict[str, tuple]:
    """Latest device each user was identified on (anonymous_id, whether it is an app device,
    device attributes). Every new customer has one: orders inside the event window always
    come with a purchase event of the same user."""
    if len(user_ids) == 0:
        return {}
    con.register("__gen_campaign_users", pa.table({"uid": pa.array(list(user_ids), pa.string())}))
    try:
        rows = con.execute(
            f"""
            select user_id,
                arg_max(anonymous_id, occurred_at), bool_or(session_id is not null),
                arg_max(device_type, occurred_at), arg_max(browser, occurred_at),
                arg_max(os, occurred_at), arg_max(country, occurred_at),
                arg_max(region, occurred_at), arg_max(city, occurred_at)
            from {quote(schema)}.{quote(STAGING_PREFIX + "events")}
            where user_id in (select uid from __gen_campaign_users)
            group by user_id
            order by user_id
            """
        ).fetchall()
    finally:
        con.unregister("__gen_campaign_users")
    return {r[0]: r[1:] for r in rows}


def plant(
    con: duckdb.DuckDBPyConnection,
    writer: Writer,
    rng: np.random.Generator,
    as_of_ms: int,
    id_salt: int,
    holdout_percent: float = HOLDOUT_PERCENT,
) -> int:
    """Write the planted orders, items and landing events; returns the number of orders.
    `holdout_percent` must be the dbt var of the same name the data will be built with."""
    schema = writer.schema
    members = new_customer_members(con, schema, as_of_ms, STAGING_PREFIX, holdout_percent)
    effect = PLANTED_EFFECT
    n = len(members.person_id)
    draw = rng.random(n)
    offset_share = rng.random(n)
    # a member who entered in the last 2 seconds before as_of has no room for an order
    room = as_of_ms - members.member_since >= 2 * SEC
    chosen = ~members.is_holdout & (draw < effect.extra_order_probability) & room
    person = members.person_id[chosen]
    since = members.member_since[chosen]
    # inside (member_since, min(member_since + window, as_of)]
    span = np.minimum(LIFT_WINDOW_DAYS * DAY, as_of_ms - since) - SEC
    ordered = since + SEC + (offset_share[chosen] * np.maximum(span, 0)).astype(np.int64)
    k = len(person)
    if k == 0:
        return 0
    cat = catalog()
    product = commerce.random_products(rng, k, None)
    quantity = rng.choice([1, 2], k, p=[0.85, 0.15])
    price = cat.product_price_cents[product]
    loaded = np.minimum(ordered + rng.integers(30 * SEC, 10 * MIN, k), as_of_ms)
    order_id = hex_ids("ord_", np.arange(k, dtype=np.int64), id_salt, 16)
    writer.write(
        "orders",
        pa.table(
            {
                "order_id": order_id,
                "user_id": pa.array(list(person), pa.string()),
                "ordered_at": timestamps(ordered * 1000),
                "status": pa.array(["completed"] * k, pa.string()),
                "order_total": decimals(price * quantity),
                "currency": pa.array(["USD"] * k, pa.string()),
                "loaded_at": timestamps(loaded * 1000),
            }
        ),
    )
    writer.write(
        "order_items",
        pa.table(
            {
                "order_id": order_id,
                "line_number": pa.array(np.ones(k, dtype=np.int32)),
                "product_id": cat.product_id.take(pa.array(product)),
                "product_category": lookup(category_names(), cat.product_category[product]),
                "quantity": pa.array(quantity.astype(np.int32)),
                "unit_price": decimals(price),
            }
        ),
    )
    lead = rng.integers(2 * MIN, 20 * MIN, k)
    writer.write(
        "events",
        _campaign_events(
            con, schema, person, ordered, ordered - lead, product, effect, as_of_ms, id_salt
        ),
    )
    return k


def _campaign_events(
    con: duckdb.DuckDBPyConnection,
    schema: str,
    person: np.ndarray,
    ordered: np.ndarray,
    landed: np.ndarray,
    product: np.ndarray,
    effect: PlantedEffect,
    as_of_ms: int,
    id_salt: int,
) -> pa.Table:
    """Per planted order, on the person's latest device: a landing page view of the product
    tagged utm_source=braze, utm_medium=email, utm_campaign=aud_<segment_key>, then the
    purchase event at the order's time (every order in the event window has one). App
    devices get a tracker session id for the pair."""
    devices = _latest_devices(con, schema, person)
    missing = [p for p in person if p not in devices]
    if missing:
        raise RuntimeError(f"planted order of {missing[0]} has no device to carry its purchase")
    k = len(person)
    n = 2 * k
    cat = catalog()
    attrs = [devices[p] for p in person]
    is_app = np.array([a[1] for a in attrs], dtype=bool)
    pair = np.repeat(np.arange(k), 2)
    is_landing = np.tile(np.array([True, False]), k)
    columns = {
        name: pa.array([attrs[i][j] for i in pair], pa.string())
        for j, name in (
            (0, "anonymous_id"),
            (2, "device_type"),
            (3, "browser"),
            (4, "os"),
            (5, "country"),
            (6, "region"),
            (7, "city"),
        )
    }
    session_ids = uuid_ids(np.arange(k, dtype=np.int64), id_salt ^ 0xA55)
    occurred = np.where(is_landing, np.maximum(landed[pair], 0), ordered[pair])
    occurred = np.minimum(occurred, as_of_ms)
    page = np.where(is_landing, cat.product_page0 + product[pair], cat.checkout_page)
    return pa.table(
        {
            "event_id": uuid_ids(np.arange(n, dtype=np.int64), id_salt ^ 0x5E55),
            "user_id": pa.array([person[i] for i in pair], pa.string()),
            "session_id": pa.array(
                [session_ids[i].as_py() if is_app[i] else None for i in pair], pa.string()
            ),
            "event_type": pa.array(
                ["page_view" if x else "purchase" for x in is_landing], pa.string()
            ),
            "page_type": pa.array(
                ["product" if x else "checkout" for x in is_landing], pa.string()
            ),
            "page_url": lookup(cat.page_url, page),
            "product_id": pa.array(
                [
                    cat.product_id[product[i]].as_py() if landing else None
                    for i, landing in zip(pair, is_landing, strict=True)
                ],
                pa.string(),
            ),
            "product_category": lookup(
                category_names(), cat.product_category[product[pair]], is_landing
            ),
            "engaged_seconds": pa.nulls(n, pa.int32()),
            "search_term": pa.nulls(n, pa.string()),
            "scroll_depth_percent": pa.nulls(n, pa.int32()),
            "referrer": pa.nulls(n, pa.string()),
            "utm_source": pa.array(["braze" if x else None for x in is_landing], pa.string()),
            "utm_medium": pa.array(["email" if x else None for x in is_landing], pa.string()),
            "utm_campaign": pa.array(
                [effect.utm_campaign if x else None for x in is_landing], pa.string()
            ),
            "occurred_at": timestamps(occurred * 1000),
            "loaded_at": timestamps(np.minimum(occurred + 5 * SEC, as_of_ms) * 1000),
            **columns,
        }
    )


__all__ = [
    "CAMPAIGN_PREFIX",
    "LIFT_WINDOW_DAYS",
    "NO_EFFECT_SEGMENT",
    "PLANTED_EFFECT",
    "PlantedEffect",
    "SegmentMembers",
    "holdout_bucket",
    "is_holdout",
    "new_customer_members",
    "plant",
]
