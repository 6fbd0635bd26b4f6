"""Orders: a purchase plan per person (history + in-window), and order / item rows.

In-window orders become forced purchase sessions in the click stream; the order rows are
then built from the purchase events actually emitted (so every in-window order has its
`purchase` event by the same user at the same instant). Older orders are history only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from audiences.generator.catalog import CATEGORY_WEIGHTS, catalog, category_names, strings
from audiences.generator.ids import decimals, hex_ids, lookup, repeat_index, timestamps
from audiences.generator.population import (
    ABANDONER,
    CONTENT,
    HIGH_INTENT,
    LAPSED,
    LOYAL,
    WINDOW,
    Population,
)

MS = 1
SEC = 1000 * MS
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR
ORDER_HISTORY_DAYS = 730
STATUSES = ("completed", "cancelled", "refunded")


@dataclass
class OrderPlan:
    window_person: np.ndarray
    window_time: np.ndarray  # ms; target purchase time
    history_person: np.ndarray
    history_time: np.ndarray


@dataclass
class Purchases:
    """Purchase events kept in the click stream (one order each)."""

    person: np.ndarray
    time: np.ndarray  # ms
    product: np.ndarray  # product index added to cart in that session


def _backward_chain(
    rng: np.random.Generator, person: np.ndarray, last: np.ndarray, count: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`count` order times per person ending at `last`, spaced by long-tailed gaps."""
    rows = repeat_index(count)
    pos = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    # frequent buyers buy at shorter intervals
    median = np.clip(700.0 / (count + 4.0), 6.0, 60.0)[rows]
    gaps = np.minimum(rng.lognormal(np.log(median), 1.3, len(rows)), 500.0) * DAY
    gaps = np.where(pos == 0, 0, gaps).astype(np.int64)
    # cumulative gap within each person's chain
    csum = np.cumsum(gaps)
    base = np.repeat(csum[np.cumsum(count) - count] - gaps[np.cumsum(count) - count], count)
    back = csum - base
    return person[rows], last[rows] - back


def plan_orders(
    rng: np.random.Generator,
    pop: Population,
    t0: int,
    t1: int,
    with_history: bool,
) -> OrderPlan:
    """Order times per person. t0/t1: event window (ms); history goes back two years."""
    arch = pop.person_archetype
    primary_person = np.zeros(pop.n_persons, dtype=bool)
    primary_person[pop.primary[pop.primary >= 0]] = True
    window_days = max((t1 - t0) / DAY, 1e-3)
    horizon = t1 - ORDER_HISTORY_DAYS * DAY
    wp, wt, hp, ht = [], [], [], []

    # loyal buyers: a chain of orders ending recently
    loyal = np.flatnonzero((arch == LOYAL) & primary_person)
    if with_history:
        count = 2 + rng.negative_binomial(0.55, 0.07, len(loyal))
        last = t1 - np.minimum(rng.exponential(12 * DAY, len(loyal)), t1 - t0 - HOUR)
        p, t = _backward_chain(rng, loyal, last.astype(np.int64), count)
        keep = t >= horizon
        p, t = p[keep], t[keep]
        inw = t >= t0
        wp.append(p[inw])
        wt.append(t[inw])
        hp.append(p[~inw])
        ht.append(t[~inw])
    else:
        # an appended slice is short: devices make ~1 visit, so buy per visit
        k = rng.poisson(min(0.25 + window_days / 30.0, 3.0), len(loyal))
        p = np.repeat(loyal, k)
        wp.append(p)
        wt.append(rng.integers(t0, t1, len(p)))

    # high-intent shoppers: some buy in the window, a few bought before
    hi = np.flatnonzero((arch == HIGH_INTENT) & primary_person)
    buy_prob = 0.2 if with_history else min(0.2, 0.2 * window_days / 30 + 0.06)
    buyers = hi[rng.random(len(hi)) < buy_prob]
    wp.append(buyers)
    wt.append(rng.integers(t0, t1, len(buyers)))
    if with_history:
        again = buyers[rng.random(len(buyers)) < 0.1]
        wp.append(again)
        wt.append(rng.integers(t0, t1, len(again)))
        earlier = hi[rng.random(len(hi)) < 0.2]
        hp.append(earlier)
        ht.append(t0 - rng.integers(20 * DAY, 600 * DAY, len(earlier)))

        # lapsed buyers: a chain that ended months ago
        lapsed = np.flatnonzero(arch == LAPSED)
        count = 1 + rng.geometric(0.45, len(lapsed)) - 1
        count = np.where(rng.random(len(lapsed)) < 0.55, 1, count + 1)
        last = t0 - rng.integers(45 * DAY, 420 * DAY, len(lapsed))
        p, t = _backward_chain(rng, lapsed, last, count)
        keep = t >= horizon
        hp.append(p[keep])
        ht.append(t[keep])

        # other known people: an occasional single old order
        other = np.flatnonzero(np.isin(arch, [WINDOW, CONTENT, ABANDONER]))
        other = other[rng.random(len(other)) < 0.22]
        hp.append(other)
        ht.append(rng.integers(horizon, t0, len(other)))

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    return OrderPlan(cat(wp), cat(wt), cat(hp), cat(ht))


def random_products(rng: np.random.Generator, n: int, interest: np.ndarray | None) -> np.ndarray:
    """Product indices with a popularity skew, biased towards `interest` categories."""
    cat = catalog()
    weights = CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum()
    category = rng.choice(len(weights), n, p=weights)
    if interest is not None:
        category = np.where(rng.random(n) < 0.65, interest, category)
    size = cat.category_n_products[category]
    rank = np.minimum((size * rng.random(n) ** 2.3).astype(np.int64), size - 1)
    return cat.category_first_product[category] + rank


@dataclass
class OrderTables:
    orders: pa.Table
    items: pa.Table
    first_order_time: np.ndarray  # per person, ms (int64 max if none)


def build_orders(
    rng: np.random.Generator,
    pop: Population,
    person_kept: np.ndarray,
    purchases: Purchases,
    plan: OrderPlan,
    as_of: int,
    load_floor: int | None,
    id_salt: int,
    id_offset: int,
) -> OrderTables:
    cat = catalog()
    hist = person_kept[plan.history_person]
    person = np.concatenate([purchases.person, plan.history_person[hist]])
    ordered = np.concatenate([purchases.time, plan.history_time[hist]])
    first_product = np.concatenate(
        [
            purchases.product,
            random_products(
                rng, int(hist.sum()), pop.interest[pop.person_device[plan.history_person[hist]]]
            ),
        ]
    )
    n = len(person)
    n_items = np.minimum(rng.geometric(0.6, n), 8)
    item_order = repeat_index(n_items)
    line = np.arange(len(item_order)) - np.repeat(np.cumsum(n_items) - n_items, n_items)
    product = random_products(
        rng, len(item_order), pop.interest[pop.person_device[person]][item_order]
    )
    product = np.where(line == 0, first_product[item_order], product)
    quantity = rng.choice([1, 2, 3, 4], len(item_order), p=[0.86, 0.1, 0.03, 0.01])
    price = cat.product_price_cents[product]
    # a few promotional free items (zero-value lines)
    price = np.where(rng.random(len(item_order)) < 0.001, 0, price)
    total = np.bincount(item_order, weights=price * quantity, minlength=n).astype(np.int64)

    u = rng.random(n)
    status = np.where(u < 0.05, 1, np.where(u < 0.08, 2, 0))
    change = np.where(
        status == 1,
        ordered + rng.integers(10 * MIN, DAY, n),
        ordered + rng.integers(3 * DAY, 30 * DAY, n),
    )
    pending = (status > 0) & (change > as_of)
    status = np.where(pending, 0, status)
    loaded = np.where(status > 0, change, ordered + rng.integers(30 * SEC, 10 * MIN, n))
    if load_floor is not None:
        loaded = np.maximum(loaded, load_floor + rng.integers(1, 10 * MIN, n))
    loaded = np.minimum(loaded, as_of)

    order_id = hex_ids("ord_", id_offset + np.arange(n, dtype=np.int64), id_salt, 16)
    orders = pa.table(
        {
            "order_id": order_id,
            "user_id": pop.user_id.take(pa.array(person)),
            "ordered_at": timestamps(ordered * 1000),
            "status": lookup(strings(STATUSES), status),
            "order_total": decimals(total),
            "currency": lookup(strings(["USD"]), np.zeros(n, dtype=np.int32)),
            "loaded_at": timestamps(loaded * 1000),
        }
    )
    items = pa.table(
        {
            "order_id": order_id.take(pa.array(item_order)),
            "line_number": pa.array((line + 1).astype(np.int32)),
            "product_id": cat.product_id.take(pa.array(product)),
            "product_category": lookup(category_names(), cat.product_category[product]),
            "quantity": pa.array(quantity.astype(np.int32)),
            "unit_price": decimals(price),
        }
    )
    first = np.full(pop.n_persons, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first, person, ordered)
    return OrderTables(orders, items, first)
