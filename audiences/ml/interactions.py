"""Implicit feedback for recommendations: per (person, product) a weight summed over
product page views, add-to-carts and completed purchases in a window before a cut-off, and
the products each person has ever bought before it.

The warehouse sums the weights (the same SQL on DuckDB and PostgreSQL); the rows come back
as Arrow columns and are encoded as integer codes into sorted vocabularies of person and
product ids, so nothing here builds a Python object per row (docs/ml.md, "Reproducibility,
engines, speed").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from audiences.ml.settings import MlSettings
from audiences.ml.store import fetch_columns, require_tables
from reverse_etl.warehouse.base import Warehouse

#: weight of one interaction of each kind
WEIGHTS = {"view": 1.0, "cart": 3.0, "purchase": 5.0}


def vocabulary(*columns: pa.Array) -> pa.Array:
    """The distinct strings of ``columns``, sorted like Python sorts str (Arrow compares
    UTF-8 bytes, which orders like code points)."""
    unique = pc.unique(pa.chunked_array(list(columns), type=pa.string()))
    return unique.take(pc.array_sort_indices(unique))


def _sorted_codes(values: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """:func:`vocabulary` of ``values`` and :func:`encode` of them into it, with one hash
    pass: Arrow's dictionary encoding, its dictionary then sorted."""
    encoded = pc.dictionary_encode(values)
    order = pc.array_sort_indices(encoded.dictionary).to_numpy()
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    indices = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    return encoded.dictionary.take(pa.array(order)), rank[indices]


def encode(values: pa.Array, vocab: pa.Array) -> np.ndarray:
    """Position of each value in ``vocab``; -1 where it is not there."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    codes = pc.index_in(values, value_set=vocab)
    return np.asarray(codes.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)


def distinct(values: np.ndarray) -> np.ndarray:
    """The sorted distinct values of an integer array (np.unique, by sorting)."""
    ordered = np.sort(values)
    if len(ordered) < 2:
        return ordered
    return ordered[np.concatenate([[True], ordered[1:] != ordered[:-1]])]


def _strings(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    return values.cast(pa.string())


@dataclass(frozen=True)
class Pairs:
    """(person_id, product_id) rows as two string columns."""

    person: pa.Array
    product: pa.Array

    def __len__(self) -> int:
        return len(self.person)

    def keys(self, people: pa.Array, products: pa.Array) -> np.ndarray:
        """Sorted distinct ``person * len(products) + product`` codes of the pairs whose
        person and product are both in the vocabularies."""
        person, product = encode(self.person, people), encode(self.product, products)
        inside = (person >= 0) & (product >= 0)
        return distinct(person[inside] * len(products) + product[inside])


@dataclass(frozen=True)
class Interactions:
    """Summed weights of a window as codes into ``people`` and ``products`` (both sorted),
    rows ordered by person then product, and the purchases before the window's end."""

    people: pa.Array
    products: pa.Array
    person: np.ndarray  # int64 codes into people
    product: np.ndarray  # int64 codes into products
    weight: np.ndarray  # float64
    #: (person_id, product_id) of every completed purchase before the window's end
    purchased: Pairs

    @classmethod
    def from_columns(
        cls, person: pa.Array, product: pa.Array, weight: np.ndarray, purchased: Pairs
    ) -> Interactions:
        people, rows = _sorted_codes(_strings(person))
        products, cols = _sorted_codes(_strings(product))
        order = np.argsort(rows * max(len(products), 1) + cols, kind="stable")
        return cls(
            people,
            products,
            rows[order],
            cols[order],
            np.asarray(weight, dtype=np.float64)[order],
            purchased,
        )

    @classmethod
    def from_mappings(
        cls,
        weights: Mapping[tuple[str, str], float],
        purchased: Mapping[str, Iterable[str]],
    ) -> Interactions:
        """From ``{(person_id, product_id): weight}`` and ``{person_id: products bought}``
        (small hand-written examples in tests)."""
        bought = [(p, i) for p, items in purchased.items() for i in items]
        return cls.from_columns(
            pa.array([p for p, _ in weights], pa.string()),
            pa.array([i for _, i in weights], pa.string()),
            np.array(list(weights.values()), dtype=np.float64),
            Pairs(
                pa.array([p for p, _ in bought], pa.string()),
                pa.array([i for _, i in bought], pa.string()),
            ),
        )


def _purchases_sql(wh: Warehouse, settings: MlSettings) -> str:
    core, staging = settings.schema("core"), settings.schema("staging")
    q = wh.quote
    return f"""
        select orders.person_id, items.product_id, orders.ordered_at
        from {q(core)}.{q("fct_orders")} as orders
        inner join {q(staging)}.{q("stg_shop__order_items")} as items
            on orders.order_id = items.order_id
        where orders.is_completed and orders.person_id is not null
            and items.product_id is not null and orders.ordered_at < ?
    """


def _require(wh: Warehouse, settings: MlSettings) -> None:
    core, inter, staging = (settings.schema(s) for s in ("core", "intermediate", "staging"))
    require_tables(wh, core, ["fct_page_views", "fct_orders"])
    require_tables(wh, inter, ["int_tracker__sessionized_events"])
    require_tables(wh, staging, ["stg_shop__order_items"])


def load_weights(wh: Warehouse, settings: MlSettings, start: datetime, end: datetime) -> pa.Table:
    """Columns person_id, product_id, weight: one row per (person, product) with an
    interaction in [start, end), the weights summed by the warehouse."""
    _require(wh, settings)
    core, inter = settings.schema("core"), settings.schema("intermediate")
    q = wh.quote
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
    from ({_purchases_sql(wh, settings)}) as bought
    where ordered_at >= ?
)
select
    cast(person_id as varchar) as person_id,
    cast(product_id as varchar) as product_id,
    cast(sum(weight) as double precision) as weight
from signals
group by person_id, product_id
"""
    return fetch_columns(
        wh, sql, (start, end, start, end, end, start), ("person_id", "product_id", "weight")
    )


def load_purchased(wh: Warehouse, settings: MlSettings, end: datetime) -> Pairs:
    """Distinct (person_id, product_id) of the completed purchases before ``end``."""
    _require(wh, settings)
    sql = f"""
select distinct
    cast(person_id as varchar) as person_id,
    cast(product_id as varchar) as product_id
from ({_purchases_sql(wh, settings)}) as bought
"""
    table = fetch_columns(wh, sql, (end,), ("person_id", "product_id"))
    return Pairs(_strings(table["person_id"]), _strings(table["product_id"]))


def load(wh: Warehouse, settings: MlSettings, start: datetime, end: datetime) -> Interactions:
    weights = load_weights(wh, settings, start, end)
    return Interactions.from_columns(
        _strings(weights["person_id"]),
        _strings(weights["product_id"]),
        weights["weight"].to_numpy(),
        load_purchased(wh, settings, end),
    )


def relevant_items(wh: Warehouse, settings: MlSettings, start: datetime, end: datetime) -> Pairs:
    """(person, product) pairs each person added to a cart or bought in [start, end) (summed
    weight of at least one cart): what a good recommendation made at ``start`` should have
    contained."""
    weights = load_weights(wh, settings, start, end)
    keep = pc.greater_equal(weights["weight"], WEIGHTS["cart"])
    held = weights.filter(keep)
    return Pairs(_strings(held["person_id"]), _strings(held["product_id"]))
