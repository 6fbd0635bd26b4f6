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
from scipy import sparse

from audiences.ml.errors import NotEnoughDataError
from audiences.ml.interactions import Interactions, load, relevant_items
from audiences.ml.settings import MlSettings
from audiences.ml.store import Column, TableSpec, replace_table_columns
from audiences.ml.tables import write_metrics
from reverse_etl.warehouse.base import Warehouse

NEIGHBOURS = 50
BATCH = 4096
HOLDOUT_DAYS = 7


@dataclass
class Recommendations:
    frame: RecFrame
    metrics: dict[str, float]


@dataclass
class Model:
    people: list[str]
    products: list[str]
    matrix: sparse.csr_matrix  # people x products
    similarity: sparse.csr_matrix  # products x products
    popularity: np.ndarray  # summed weight per product


def fit(data: Interactions) -> Model:
    people = sorted({p for p, _ in data.weights})
    products = sorted({i for _, i in data.weights})
    if len(products) < 2:
        raise NotEnoughDataError(
            f"recommendations: {len(products)} products with views, carts or purchases in "
            "the window; need at least 2 (generate more events)"
        )
    pi = {p: i for i, p in enumerate(people)}
    ii = {p: i for i, p in enumerate(products)}
    keys = sorted(data.weights)
    rows = np.fromiter((pi[p] for p, _ in keys), dtype=np.int64, count=len(keys))
    cols = np.fromiter((ii[i] for _, i in keys), dtype=np.int64, count=len(keys))
    vals = np.fromiter((data.weights[k] for k in keys), dtype=np.float64, count=len(keys))
    matrix = sparse.csr_matrix((vals, (rows, cols)), shape=(len(people), len(products)))
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0))).ravel()
    norms[norms == 0] = 1.0
    normalized = matrix @ sparse.diags(1.0 / norms)
    similarity = (normalized.T @ normalized).tocsr()
    similarity.setdiag(0.0)
    similarity.eliminate_zeros()
    return Model(
        people, products, matrix, _keep_top(similarity), np.asarray(matrix.sum(axis=0)).ravel()
    )


def _keep_top(similarity: sparse.csr_matrix) -> sparse.csr_matrix:
    """Each row keeps its NEIGHBOURS largest entries (ties: the lower product index)."""
    indptr, indices, data = similarity.indptr, similarity.indices, similarity.data
    keep_rows, keep_cols, keep_vals = [], [], []
    for r in range(similarity.shape[0]):
        lo, hi = indptr[r], indptr[r + 1]
        cols, vals = indices[lo:hi], np.round(data[lo:hi], 9)
        order = np.lexsort((cols, -vals))[:NEIGHBOURS]
        keep_rows.append(np.full(len(order), r))
        keep_cols.append(cols[order])
        keep_vals.append(vals[order])
    return sparse.csr_matrix(
        (np.concatenate(keep_vals), (np.concatenate(keep_rows), np.concatenate(keep_cols))),
        shape=similarity.shape,
    )


@dataclass
class RecFrame:
    """Recommendations as columns: indexes into ``people`` / ``products``, by person then
    rank."""

    people: list[str]
    products: list[str]
    person: np.ndarray
    product: np.ndarray
    rank: np.ndarray
    score: np.ndarray
    popular: np.ndarray  # True: a most-popular fill

    def rows(self) -> list[tuple[str, str, int, float, str]]:
        return [
            (self.people[i], self.products[j], int(r), float(sc), "popular" if p else "item_item")
            for i, j, r, sc, p in zip(
                self.person, self.product, self.rank, self.score, self.popular, strict=True
            )
        ]


def recommend(model: Model, data: Interactions, count: int, include_purchased: bool) -> RecFrame:
    """Top ``count`` products for every person of the model, best first (ties: the lower
    product id). Scores stay sparse: only products related to the person's history."""
    n_products = len(model.products)
    product_index = {p: i for i, p in enumerate(model.products)}
    popular = np.lexsort((np.arange(n_products), -model.popularity))
    bought = _purchased_matrix(model, data, product_index)
    take = min(count, n_products)
    parts: list[tuple[np.ndarray, ...]] = []
    for start in range(0, len(model.people), BATCH):
        chunk = model.matrix[start : start + BATCH]
        scores = (chunk @ model.similarity).tocsr()
        scores.data = np.round(scores.data, 6)
        chunk_bought = bought[start : start + BATCH]
        if not include_purchased:
            scores = (scores - scores.multiply(chunk_bought)).tocsr()
        scores.data[scores.data <= 0] = 0.0
        scores.eliminate_zeros()
        scores.sort_indices()
        lengths = np.diff(scores.indptr)
        rows = np.repeat(np.arange(scores.shape[0]), lengths)
        order = np.lexsort((scores.indices, -scores.data, rows))
        position = np.arange(len(order)) - scores.indptr[rows[order]]
        keep = order[position < take]
        person = rows[keep] + start
        product = scores.indices[keep]
        score = scores.data[keep]
        rank = position[position < take] + 1
        filled = np.zeros(len(keep), dtype=bool)
        short = np.flatnonzero(np.minimum(lengths, take) < take)
        fill_person, fill_product, fill_rank = [], [], []
        for r in short:
            have = set(scores.indices[scores.indptr[r] : scores.indptr[r + 1]].tolist())
            if not include_purchased:
                have |= set(
                    chunk_bought.indices[
                        chunk_bought.indptr[r] : chunk_bought.indptr[r + 1]
                    ].tolist()
                )
            next_rank = min(int(lengths[r]), take) + 1
            for j in popular:
                if next_rank > take:
                    break
                if int(j) not in have:
                    fill_person.append(r + start)
                    fill_product.append(int(j))
                    fill_rank.append(next_rank)
                    next_rank += 1
        parts.append(
            (
                np.concatenate([person, np.array(fill_person, dtype=np.int64)]),
                np.concatenate([product, np.array(fill_product, dtype=np.int64)]),
                np.concatenate([rank, np.array(fill_rank, dtype=np.int64)]),
                np.concatenate([score, np.zeros(len(fill_person))]),
                np.concatenate([filled, np.ones(len(fill_person), dtype=bool)]),
            )
        )
    person, product, rank, score, pop = (
        np.concatenate([p[k] for p in parts]) if parts else np.zeros(0) for k in range(5)
    )
    order = np.lexsort((rank, person))
    return RecFrame(
        model.people,
        model.products,
        person[order].astype(np.int64),
        product[order].astype(np.int64),
        rank[order].astype(np.int64),
        score[order],
        pop[order].astype(bool),
    )


def _purchased_matrix(
    model: Model, data: Interactions, product_index: dict[str, int]
) -> sparse.csr_matrix:
    """people x products, 1 where the person bought the product."""
    rows, cols = [], []
    for i, person in enumerate(model.people):
        for product in data.purchased.get(person, ()):
            j = product_index.get(product)
            if j is not None:
                rows.append(i)
                cols.append(j)
    return sparse.csr_matrix(
        (np.ones(len(rows)), (rows, cols)), shape=(len(model.people), len(model.products))
    )


def _precision_recall(
    recs: dict[str, list[str]], relevant: dict[str, set[str]], count: int
) -> tuple[float, float, int]:
    precision, recall, n = 0.0, 0.0, 0
    for person in sorted(relevant):
        if person not in recs:
            continue
        hits = len(set(recs[person][:count]) & relevant[person])
        precision += hits / count
        recall += hits / len(relevant[person])
        n += 1
    return (round(precision / n, 6), round(recall / n, 6), n) if n else (0.0, 0.0, 0)


def evaluate(wh: Warehouse, settings: MlSettings, count: int, include: bool) -> dict[str, float]:
    cut = settings.as_of - timedelta(days=HOLDOUT_DAYS)
    lookback = int(settings.var("recommendation_lookback_days"))
    train = load(wh, settings, cut - timedelta(days=lookback), cut)
    model = fit(train)
    by_person: dict[str, list[str]] = {}
    recs = recommend(model, train, count, include)
    for i, j in zip(recs.person.tolist(), recs.product.tolist(), strict=True):
        by_person.setdefault(model.people[i], []).append(model.products[j])
    relevant = relevant_items(wh, settings, cut, settings.as_of)
    if not include:  # a product bought before the cut-off is never recommended
        relevant = {
            p: items - train.purchased.get(p, set())
            for p, items in relevant.items()
            if items - train.purchased.get(p, set())
        }
    popular_order = np.lexsort((np.arange(len(model.products)), -model.popularity))
    popular_recs: dict[str, list[str]] = {}
    for person in relevant:
        if person not in by_person:
            continue
        bought = set() if include else train.purchased.get(person, set())
        picks: list[str] = []
        for j in popular_order:
            if len(picks) == count:
                break
            if model.products[j] not in bought:
                picks.append(model.products[j])
        popular_recs[person] = picks
    p, r, n = _precision_recall(by_person, relevant, count)
    bp, br, _ = _precision_recall(popular_recs, relevant, count)
    return {
        "precision_at_n": p,
        "recall_at_n": r,
        "popular_precision_at_n": bp,
        "popular_recall_at_n": br,
        "evaluated_people": float(n),
        "n": float(count),
    }


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
    people = np.array(f.people, dtype=object)
    products = np.array(f.products, dtype=object)
    replace_table_columns(
        wh,
        schema,
        PRODUCT_RECOMMENDATIONS,
        {
            "person_id": people[f.person] if len(f.person) else [],
            "product_id": products[f.product] if len(f.product) else [],
            "rank": f.rank,
            "score": f.score,
            "source": np.where(f.popular, "popular", "item_item").astype(object),
            "as_of": [as_of] * len(f.person),
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
