"""Item-item collaborative filtering on implicit feedback (audiences/ml/interactions.py).

Similarity: cosine between products' columns of the person x product weight matrix, each
product keeping its NEIGHBOURS most similar products. A person's score for a product is the
sum of their weights times the similarities; products they already bought are left out
(unless var recommendation_include_purchased). Slots the person's history cannot fill are
filled with the most popular products (source 'popular'). Evaluated on a time split: fitted on
the window before as_of - 7 days, precision@N / recall@N against the products each person
added to a cart or bought in the last 7 days, next to the most-popular baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
from scipy import sparse

from audiences.ml.errors import NotEnoughDataError
from audiences.ml.interactions import (
    Interactions,
    Pairs,
    distinct,
    encode,
    load,
    relevant_items,
    vocabulary,
)
from audiences.ml.settings import MlSettings
from audiences.ml.store import Column, TableSpec, replace_table_columns
from audiences.ml.tables import write_metrics
from reverse_etl.warehouse.base import Warehouse

NEIGHBOURS = 50
#: people scored per sparse product (the result of a batch is held in memory)
BATCH = 4096
HOLDOUT_DAYS = 7
#: blocks per wanted entry when bounding a row's cut-off score (see _floor)
FLOOR_BLOCKS = 4


@dataclass
class Recommendations:
    frame: RecFrame
    metrics: dict[str, float]


@dataclass
class Model:
    people: pa.Array  # sorted person ids: row i of matrix
    products: pa.Array  # sorted product ids: column j of matrix
    matrix: sparse.csr_matrix  # people x products
    similarity: sparse.csr_matrix  # products x products
    popularity: np.ndarray  # summed weight per product


def fit(data: Interactions) -> Model:
    n_people, n_products = len(data.people), len(data.products)
    if n_products < 2:
        raise NotEnoughDataError(
            f"recommendations: {n_products} products with views, carts or purchases in "
            "the window; need at least 2 (generate more events)"
        )
    matrix = sparse.csr_matrix(
        (data.weight, (data.person, data.product)), shape=(n_people, n_products)
    )
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0))).ravel()
    norms[norms == 0] = 1.0
    normalized = matrix @ sparse.diags(1.0 / norms)
    similarity = (normalized.T @ normalized).tocsr()
    similarity.setdiag(0.0)
    similarity.eliminate_zeros()
    return Model(
        data.people,
        data.products,
        matrix,
        _keep_top(similarity),
        np.asarray(matrix.sum(axis=0)).ravel(),
    )


def _keep_top(similarity: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row keeps its NEIGHBOURS largest entries, rounded to 9 decimals (ties: the lower
    product index)."""
    parts = []
    for start in range(0, similarity.shape[0], BATCH):
        block = similarity[start : start + BATCH]
        row, col, val, _ = _top_per_row(
            block.indptr, block.indices, np.round(block.data, 9), NEIGHBOURS
        )
        parts.append((row + start, col, val))
    return sparse.csr_matrix(
        (
            np.concatenate([p[2] for p in parts]),
            (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])),
        ),
        shape=similarity.shape,
    )


def _floor(indptr: np.ndarray, data: np.ndarray, take: int) -> np.ndarray:
    """Per row of a CSR matrix a value at or below its ``take``-th largest entry (-inf for
    rows shorter than FLOOR_BLOCKS * take, whose entries are all kept).

    A row is cut into FLOOR_BLOCKS * take consecutive blocks; the take-th largest of the
    block maxima is at most the row's take-th largest value (those take maxima are take
    distinct entries of the row), and usually close to it."""
    n_rows = len(indptr) - 1
    lengths = np.diff(indptr)
    blocks = FLOOR_BLOCKS * take
    wide = np.flatnonzero(lengths >= blocks)
    floor = np.full(n_rows, -np.inf)
    if len(wide):
        # block b of row r: [start + len * b // blocks, start + len * (b + 1) // blocks)
        bounds = indptr[wide, None] + (lengths[wide, None] * np.arange(blocks + 1)) // blocks
        maxima = np.maximum.reduceat(np.append(data, -np.inf), bounds.ravel())
        maxima = maxima.reshape(len(wide), blocks + 1)[:, :blocks]  # last: the next row
        floor[wide] = np.partition(maxima, blocks - take, axis=1)[:, blocks - take]
    return floor


def _top_per_row(
    indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, take: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The ``take`` largest entries of each row of a CSR matrix, ordered by row, value
    (descending) and column (ties: the lower column first): (row, column, value, rank).

    Sorting every entry is the slow part, so only the entries at or above the row's
    :func:`_floor` are sorted: an entry below it has at least ``take`` larger ones in its
    row, so the result is the one sorting all entries gives."""
    n_rows = len(indptr) - 1
    candidate = np.flatnonzero(data >= np.repeat(_floor(indptr, data, take), np.diff(indptr)))
    rows = _row_of(indptr, candidate)
    cols, vals = indices[candidate], data[candidate]
    order = _order_by_row_value_column(rows, cols, vals, n_rows)
    rows, cols, vals = rows[order], cols[order], vals[order]
    counts = np.bincount(rows, minlength=n_rows)
    position = np.arange(len(rows)) - (np.cumsum(counts) - counts)[rows]
    keep = position < take
    return rows[keep], cols[keep], vals[keep], position[keep] + 1


def _order_by_row_value_column(
    rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int
) -> np.ndarray:
    """The order by row, value (descending), column: np.lexsort((cols, -vals, rows)), but
    as one sort of an int64 key (row, rank of the value, column) when that key fits."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    distinct, value_rank = np.unique(vals, return_inverse=True)
    n_values, n_cols = len(distinct), int(cols.max()) + 1
    if n_rows * n_values * n_cols >= 2**62:
        return np.lexsort((cols, -vals, rows))
    descending = n_values - 1 - value_rank.astype(np.int64)
    return np.argsort((rows * n_values + descending) * n_cols + cols)


def _row_of(indptr: np.ndarray, entries: np.ndarray) -> np.ndarray:
    """The CSR row of each entry position."""
    return np.searchsorted(indptr, entries, side="right").astype(np.int64) - 1


def _member(keys: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """True where a key is in ``sorted_keys`` (sorted, distinct)."""
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[at] == keys


def _popular_fill(
    person: np.ndarray, need: np.ndarray, excluded: np.ndarray, popular: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each person (distinct codes) the first ``need`` products of ``popular`` (product
    codes, most popular first) whose key ``person * len(popular) + product`` is not in
    ``excluded`` (sorted, distinct): (person, product, slot 0..need-1). Fewer when the
    catalogue runs out."""
    n_products = len(popular)
    lo = np.searchsorted(excluded, person * n_products)
    hi = np.searchsorted(excluded, (person + 1) * n_products)
    # among the first need + (excluded of the person) popular products, at least need are free
    span = np.minimum(need + (hi - lo), n_products)
    who = np.repeat(np.arange(len(person)), span)
    position = np.arange(len(who)) - (np.cumsum(span) - span)[who]
    product = popular[position]
    free = ~_member(person[who] * n_products + product, excluded)
    who, product = who[free], product[free]
    counts = np.bincount(who, minlength=len(person))
    slot = np.arange(len(who)) - (np.cumsum(counts) - counts)[who]
    keep = slot < need[who]
    return person[who[keep]], product[keep], slot[keep]


@dataclass
class RecFrame:
    """Recommendations as columns: indexes into ``people`` / ``products``, by person then
    rank."""

    people: pa.Array
    products: pa.Array
    person: np.ndarray
    product: np.ndarray
    rank: np.ndarray
    score: np.ndarray
    popular: np.ndarray  # True: a most-popular fill

    def rows(self) -> list[tuple[str, str, int, float, str]]:
        people = self.people.take(pa.array(self.person, pa.int64())).to_pylist()
        products = self.products.take(pa.array(self.product, pa.int64())).to_pylist()
        return [
            (i, j, int(r), float(sc), "popular" if p else "item_item")
            for i, j, r, sc, p in zip(
                people, products, self.rank, self.score, self.popular, strict=True
            )
        ]


def _popular_order(model: Model) -> np.ndarray:
    """Product codes, the largest summed weight first (ties: the lower product id)."""
    return np.lexsort((np.arange(len(model.popularity)), -model.popularity))


def _ranges(sorted_keys: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Positions in ``sorted_keys`` of the keys in [lo[i], hi[i]) for every i, in order."""
    start = np.searchsorted(sorted_keys, lo)
    counts = np.searchsorted(sorted_keys, hi) - start
    return np.arange(counts.sum()) + np.repeat(start - (np.cumsum(counts) - counts), counts)


def recommend(
    model: Model,
    data: Interactions,
    count: int,
    include_purchased: bool,
    people: np.ndarray | None = None,
) -> RecFrame:
    """Top ``count`` products for every person of the model (or only for the person codes
    ``people``, sorted), best first (ties: the lower product id). Scores stay sparse: only
    products related to the person's history."""
    n_people, n_products = model.matrix.shape
    popular = _popular_order(model)
    bought = (
        np.zeros(0, dtype=np.int64)
        if include_purchased
        else data.purchased.keys(model.people, model.products)
    )
    take = min(count, n_products)
    who = np.arange(n_people, dtype=np.int64) if people is None else people.astype(np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for first in range(0, len(who), BATCH):
        batch = who[first : first + BATCH]
        n_rows = len(batch)
        chunk = model.matrix[batch[0] : batch[-1] + 1] if people is None else model.matrix[batch]
        scores = (chunk @ model.similarity).tocsr()
        values = np.round(scores.data, 6)
        cols, indptr = scores.indices, scores.indptr
        batch_bought = bought[_ranges(bought, batch * n_products, (batch + 1) * n_products)]
        # products already bought and scores that round to zero are not recommended
        dropped = values <= 0
        if len(batch_bought):
            buyer = np.zeros(n_rows, dtype=bool)
            buyer[np.searchsorted(batch, batch_bought // n_products)] = True
            check = np.flatnonzero(np.repeat(buyer, np.diff(indptr)))
            key = batch[_row_of(indptr, check)] * n_products + cols[check]
            dropped[check] |= _member(key, batch_bought)
        if dropped.any():
            gone = np.bincount(_row_of(indptr, np.flatnonzero(dropped)), minlength=n_rows)
            kept = np.flatnonzero(~dropped)
            cols, values = cols[kept], values[kept]
            indptr = np.concatenate([[0], np.cumsum(np.diff(indptr) - gone)])
        lengths = np.diff(indptr)
        top_row, top_col, top_score, top_rank = _top_per_row(indptr, cols, values, take)
        # slots the history cannot fill: the most popular products not scored or bought
        short = np.flatnonzero(lengths < take)
        if not len(short):
            parts.append(
                (
                    batch[top_row],
                    top_col.astype(np.int64),
                    top_rank,
                    top_score,
                    np.zeros(len(top_row), dtype=bool),
                )
            )
            continue
        in_short = np.flatnonzero(np.repeat(lengths < take, lengths))
        scored_short = batch[_row_of(indptr, in_short)] * n_products + cols[in_short]
        excluded = np.union1d(scored_short, batch_bought)
        fill_person, fill_product, fill_slot = _popular_fill(
            batch[short], take - lengths[short], excluded, popular
        )
        person = np.concatenate([batch[top_row], fill_person])
        fill_rank = lengths[np.searchsorted(batch, fill_person)] + 1 + fill_slot
        rank = np.concatenate([top_rank, fill_rank])
        order = np.lexsort((rank, person))
        parts.append(
            (
                person[order],
                np.concatenate([top_col, fill_product]).astype(np.int64)[order],
                rank[order],
                np.concatenate([top_score, np.zeros(len(fill_person))])[order],
                np.concatenate(
                    [np.zeros(len(top_row), dtype=bool), np.ones(len(fill_person), dtype=bool)]
                )[order],
            )
        )
    person, product, rank, score, pop = (
        np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(5)
    )
    return RecFrame(
        model.people,
        model.products,
        person.astype(np.int64, copy=False),
        product.astype(np.int64, copy=False),
        rank.astype(np.int64, copy=False),
        score.astype(np.float64, copy=False),
        pop.astype(bool, copy=False),
    )


def _is_in(products: pa.Array, model: Model) -> np.ndarray:
    return encode(products, model.products) >= 0


def _product_codes(products: pa.Array, known: pa.Array, unseen: pa.Array) -> np.ndarray:
    """Code of each product: its position in ``known``, else len(known) + its position in
    ``unseen``, else -1."""
    code = encode(products, known)
    extra = encode(products, unseen)
    return np.where(code >= 0, code, np.where(extra >= 0, len(known) + extra, -1))


def _sum_in_order(terms: np.ndarray) -> float:
    """Left-to-right sum (like a Python loop of +=), so the metric is the same float the
    per-person loop gave; np.sum adds pairwise."""
    return float(np.cumsum(terms)[-1]) if len(terms) else 0.0


def _precision_recall(
    hits: np.ndarray, relevant: np.ndarray, count: int
) -> tuple[float, float, int]:
    """Mean precision@count and recall@count over people (in person id order) with
    ``hits`` recommended products among their ``relevant`` ones."""
    n = len(hits)
    if not n:
        return 0.0, 0.0, 0
    precision = _sum_in_order(hits / count)
    recall = _sum_in_order(hits / relevant)
    return round(precision / n, 6), round(recall / n, 6), n


def holdout_metrics(
    model: Model,
    recs: RecFrame,
    purchased: Pairs,
    relevant: Pairs,
    count: int,
    include: bool,
) -> dict[str, float]:
    """precision@count / recall@count of ``recs`` and of the most popular products against
    the ``relevant`` pairs of the held-out window, over the people of the model who have a
    recommendation and a relevant product (one they had not bought before, unless
    ``include``)."""
    n_people, n_products = model.matrix.shape
    # one lookup into the model's people for both lists; -1: not a person of the model
    codes = encode(pa.concat_arrays([relevant.person, purchased.person]), model.people)
    person, buyer = codes[: len(relevant)], codes[len(relevant) :]
    # products: the model's codes, then n_products + k for held-out products it never saw
    unseen = vocabulary(relevant.product.filter(pa.array(~_is_in(relevant.product, model))))
    product = _product_codes(relevant.product, model.products, unseen)
    bought = _product_codes(purchased.product, model.products, unseen)
    n_codes = n_products + len(unseen)
    bought_pairs = (buyer >= 0) & (bought >= 0)
    if not include:  # a product bought before the cut-off is never recommended
        before = distinct(buyer[bought_pairs] * n_codes + bought[bought_pairs])
        person = np.where(_member(person * n_codes + product, before), -1, person)
    known = person >= 0
    relevant_count = np.bincount(person[known], minlength=n_people)
    has_recs = np.bincount(recs.person, minlength=n_people) > 0
    evaluated = np.flatnonzero((relevant_count > 0) & has_recs)
    # relevant pairs of products the model knows, as person * n_products + product
    usable = known & (product < n_products)
    targets = distinct(person[usable] * n_products + product[usable])

    is_evaluated = np.zeros(n_people, dtype=bool)
    is_evaluated[evaluated] = True

    def hits(who: np.ndarray, what: np.ndarray) -> np.ndarray:
        mine = np.flatnonzero(is_evaluated[who])
        who, what = who[mine], what[mine]
        hit = _member(who * n_products + what, targets)
        return np.bincount(who[hit], minlength=n_people)[evaluated]

    p, r, n = _precision_recall(hits(recs.person, recs.product), relevant_count[evaluated], count)
    modelled = bought_pairs & (bought < n_products)
    excluded = (
        np.zeros(0, dtype=np.int64)
        if include
        else distinct(buyer[modelled] * n_products + bought[modelled])
    )
    pick_person, pick_product, _ = _popular_fill(
        evaluated, np.full(len(evaluated), count), excluded, _popular_order(model)
    )
    bp, br, _ = _precision_recall(hits(pick_person, pick_product), relevant_count[evaluated], count)
    return {
        "precision_at_n": p,
        "recall_at_n": r,
        "popular_precision_at_n": bp,
        "popular_recall_at_n": br,
        "evaluated_people": float(n),
        "n": float(count),
    }


def evaluate(wh: Warehouse, settings: MlSettings, count: int, include: bool) -> dict[str, float]:
    """Fitted on the lookback window ending HOLDOUT_DAYS before as_of, scored against the
    products each person added to a cart or bought after it."""
    cut = settings.as_of - timedelta(days=HOLDOUT_DAYS)
    lookback = int(settings.var("recommendation_lookback_days"))
    train = load(wh, settings, cut - timedelta(days=lookback), cut)
    model = fit(train)
    relevant = relevant_items(wh, settings, cut, settings.as_of)
    # only people with a held-out product are evaluated: recommend for them alone
    codes = encode(relevant.person, model.people)
    recs = recommend(model, train, count, include, people=distinct(codes[codes >= 0]))
    return holdout_metrics(model, recs, train.purchased, relevant, count, include)


def run(wh: Warehouse, settings: MlSettings) -> Recommendations:
    count = int(settings.var("recommendation_count"))
    include = bool(settings.var("recommendation_include_purchased"))
    lookback = int(settings.var("recommendation_lookback_days"))
    metrics = evaluate(wh, settings, count, include)
    data = load(wh, settings, settings.as_of - timedelta(days=lookback), settings.as_of)
    model = fit(data)
    frame = recommend(model, data, count, include)
    metrics["people"] = float(len(model.people))
    metrics["products"] = float(len(model.products))
    return Recommendations(frame, metrics)


PRODUCT_RECOMMENDATIONS = TableSpec(
    "product_recommendations",
    (
        Column("person_id", "text"),
        Column("product_id", "text"),
        Column("rank", "bigint"),
        Column("score", "double"),
        Column("source", "text"),
        Column("as_of", "timestamp"),
    ),
)


def write(wh: Warehouse, schema: str, as_of: datetime, recs: Recommendations) -> None:
    f = recs.frame
    replace_table_columns(
        wh,
        schema,
        PRODUCT_RECOMMENDATIONS,
        {
            "person_id": f.people.take(pa.array(f.person, pa.int64())),
            "product_id": f.products.take(pa.array(f.product, pa.int64())),
            "rank": f.rank,
            "score": f.score,
            "source": pa.array(["item_item", "popular"], pa.string()).take(
                pa.array(f.popular.astype(np.int8))
            ),
            "as_of": pa.array(np.full(len(f.person), np.datetime64(as_of, "us"))),
        },
    )
    write_metrics(wh, schema, as_of, "recommendations_item_item", recs.metrics)


def evaluation_table(recs: Recommendations) -> str:
    m = recs.metrics
    n = int(m["n"])
    return "\n".join(
        [
            f"{int(m['people'])} people, {int(m['products'])} products; held-out week: "
            f"{int(m['evaluated_people'])} people with a cart or purchase",
            f"{'recommender':<16} {f'precision@{n}':>13} {f'recall@{n}':>10}",
            f"{'item_item':<16} {m['precision_at_n']:>13.4f} {m['recall_at_n']:>10.4f}",
            f"{'most popular':<16} {m['popular_precision_at_n']:>13.4f} "
            f"{m['popular_recall_at_n']:>10.4f}",
        ]
    )
