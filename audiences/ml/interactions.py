"""Implicit feedback for recommendations: per (person, product) a weight summed over
product page views, add-to-carts and completed purchases in a window before a cut-off, and
the products each person has ever bought before it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch, require_tables
from reverse_etl.warehouse.base import Warehouse

#: weight of one interaction of each kind
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


@dataclass
class Interactions:
    #: (person_id, product_id) -> summed weight, for rows in [start, end)
    weights: dict[tuple[str, str], float]
    #: person_id -> products bought before ``end`` (any time)
    purchased: dict[str, set[str]]


def load(wh: Warehouse, settings: MlSettings, start: datetime, end: datetime) -> Interactions:
    core, inter, staging = (settings.schema(s) for s in ("core", "intermediate", "staging"))
    require_tables(wh, core, ["fct_page_views", "fct_orders"])
    require_tables(wh, inter, ["int_tracker__sessionized_events"])
    require_tables(wh, staging, ["stg_shop__order_items"])
    q = wh.quote
    purchases = f"""
        select orders.person_id, items.product_id, orders.ordered_at
        from {q(core)}.{q("fct_orders")} as orders
        inner join {q(staging)}.{q("stg_shop__order_items")} as items
            on orders.order_id = items.order_id
        where orders.is_completed and orders.person_id is not null
            and items.product_id is not null and orders.ordered_at < ?
    """
    sql = f"""
with
signals as (
    select person_id, product_id, {WEIGHTS["view"]} as weight
    from {q(core)}.{q("fct_page_views")}
    where page_type = 'product' and product_id is not null and person_id is not null
        and viewed_at >= ? and viewed_at < ?
    union all
    select person_id, product_id, {WEIGHTS["cart"]} as weight
    from {q(inter)}.{q("int_tracker__sessionized_events")}
    where event_type = 'add_to_cart' and product_id is not null and person_id is not null
        and occurred_at >= ? and occurred_at < ?
    union all
    select person_id, product_id, {WEIGHTS["purchase"]} as weight
    from ({purchases}) as bought
    where ordered_at >= ?
)
select person_id, product_id, sum(weight) as weight
from signals
group by person_id, product_id
"""
    weights = {
        (str(r[0]), str(r[1])): float(r[2])
        for r in fetch(wh, sql, (start, end, start, end, end, start))
    }
    purchased: dict[str, set[str]] = {}
    for person, product, _ in fetch(wh, purchases, (end,)):
        purchased.setdefault(str(person), set()).add(str(product))
    return Interactions(weights, purchased)


def relevant_items(
    wh: Warehouse, settings: MlSettings, start: datetime, end: datetime
) -> dict[str, set[str]]:
    """Products each person added to a cart or bought in [start, end): what a good
    recommendation made at ``start`` should have contained."""
    held = load(wh, settings, start, end)
    relevant: dict[str, set[str]] = {}
    for (person, product), weight in held.weights.items():
        if weight >= WEIGHTS["cart"]:
            relevant.setdefault(person, set()).add(product)
    return relevant
