"""Item-item recommendations: cosine similarities and scores computed by hand on a tiny
matrix; products already bought are never recommended unless configured; on the test
warehouse, no recommendation is a product the person bought before as_of."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from ml_support import open_warehouse

from audiences.ml import recommendations
from audiences.ml.interactions import Interactions, Pairs
from audiences.ml.settings import MlSettings

# a and b viewed x and y; c viewed x and bought z (weight 5)
WEIGHTS = {
    ("a", "x"): 1.0,
    ("a", "y"): 1.0,
    ("b", "x"): 1.0,
    ("b", "y"): 1.0,
    ("c", "x"): 1.0,
    ("c", "z"): 5.0,
}
DATA = Interactions.from_mappings(weights=WEIGHTS, purchased={"c": {"z"}})
COS_XY = 2 / (math.sqrt(3) * math.sqrt(2))  # x = [1, 1, 1], y = [1, 1, 0]
COS_XZ = 5 / (math.sqrt(3) * 5)  # z = [0, 0, 5]


def _by_person(rows):
    out: dict[str, list[tuple[str, float, str]]] = {}
    for person, product, rank, score, source in rows:
        assert rank == len(out.get(person, [])) + 1
        out.setdefault(person, []).append((product, score, source))
    return out


def test_scores_are_weights_times_cosine_similarities():
    model = recommendations.fit(DATA)
    assert model.similarity[0, 1] == pytest.approx(COS_XY)
    assert model.similarity[0, 2] == pytest.approx(COS_XZ)
    assert model.similarity[1, 2] == 0
    recs = _by_person(
        recommendations.recommend(model, DATA, count=3, include_purchased=False).rows()
    )
    # a: x and y tie (1 * cos(x, y)): product order breaks the tie; z from x
    assert recs["a"] == [
        ("x", round(COS_XY, 6), "item_item"),
        ("y", round(COS_XY, 6), "item_item"),
        ("z", round(COS_XZ, 6), "item_item"),
    ]
    # c bought z: never recommended; x from z (5 * cos), y from x; nothing left to fill
    assert recs["c"] == [
        ("x", round(5 * COS_XZ, 6), "item_item"),
        ("y", round(COS_XY, 6), "item_item"),
    ]


def test_purchased_products_come_back_only_when_configured():
    model = recommendations.fit(DATA)
    recs = _by_person(
        recommendations.recommend(model, DATA, count=3, include_purchased=True).rows()
    )
    assert [p for p, _, _ in recs["c"]] == ["x", "y", "z"]


def test_short_histories_are_filled_with_the_most_popular_products():
    model = recommendations.fit(DATA)
    recs = _by_person(
        recommendations.recommend(model, DATA, count=1, include_purchased=False).rows()
    )
    assert recs["b"] == [("x", round(COS_XY, 6), "item_item")]
    # popularity: z 5, x 3, y 2, w 1; d's only product w has no neighbour: popular fill
    lone = Interactions.from_mappings({("d", "w"): 1.0, **WEIGHTS}, {"c": {"z"}})
    recs = _by_person(
        recommendations.recommend(
            recommendations.fit(lone), lone, 2, include_purchased=False
        ).rows()
    )
    assert recs["d"] == [("z", 0.0, "popular"), ("x", 0.0, "popular")]


def _pairs(pairs: list[tuple[str, str]]) -> Pairs:
    return Pairs(pa.array([p for p, _ in pairs]), pa.array([i for _, i in pairs]))


# held-out week: a carted y and q (a product the model never saw), b bought z, c carted x and
# z (z bought before the cut-off), e (not in the model) carted x
HELD_OUT = _pairs([("a", "y"), ("a", "q"), ("b", "z"), ("c", "x"), ("c", "z"), ("e", "x")])


def test_holdout_metrics_by_hand():
    """count 2: item-item a [x, y], b [x, y], c [x, y]; most popular (z 5, x 3, y 2) a and b
    [z, x], c [x, y] (z bought). Relevant: a {y, q}, b {z}, c {x} (z bought before).
    Hits item-item a 1, b 0, c 1: precision (1/2 + 0 + 1/2) / 3, recall (1/2 + 0 + 1/1) / 3;
    popular a 0, b 1, c 1: precision (0 + 1/2 + 1/2) / 3, recall (0 + 1/1 + 1/1) / 3."""
    model = recommendations.fit(DATA)
    recs = recommendations.recommend(model, DATA, count=2, include_purchased=False)
    metrics = recommendations.holdout_metrics(model, recs, DATA.purchased, HELD_OUT, 2, False)
    assert metrics == {
        "precision_at_n": 0.333333,
        "recall_at_n": 0.5,
        "popular_precision_at_n": 0.333333,
        "popular_recall_at_n": 0.666667,
        "evaluated_people": 3.0,
        "n": 2.0,
    }


def test_holdout_metrics_with_purchases_included():
    """Same, purchases allowed: c keeps z as relevant ({x, z}) and the popular list for c is
    [z, x]. Item-item c [x, y]: 1 hit of 2; popular c: 2 hits of 2."""
    model = recommendations.fit(DATA)
    recs = recommendations.recommend(model, DATA, count=2, include_purchased=True)
    metrics = recommendations.holdout_metrics(model, recs, DATA.purchased, HELD_OUT, 2, True)
    assert metrics == {
        "precision_at_n": 0.333333,
        "recall_at_n": 0.333333,
        "popular_precision_at_n": 0.5,
        "popular_recall_at_n": 0.666667,
        "evaluated_people": 3.0,
        "n": 2.0,
    }


def _reference_top(indptr, indices, data, take):
    """Each row sorted in Python by (value descending, column), cut at ``take``."""
    out = []
    for row in range(len(indptr) - 1):
        entries = sorted(
            zip(
                indices[indptr[row] : indptr[row + 1]],
                data[indptr[row] : indptr[row + 1]],
                strict=True,
            ),
            key=lambda e: (-e[1], e[0]),
        )
        out += [(row, int(c), float(v), k + 1) for k, (c, v) in enumerate(entries[:take])]
    return out


@pytest.mark.parametrize("take", [1, 3, 10, 50])
def test_top_per_row_equals_sorting_every_row(take):
    """Rows of 0 to 300 entries with many tied values (the tie goes to the lower column),
    columns in no particular order: the block-maxima shortcut keeps exactly what sorting
    every row keeps."""
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 300, size=60)
    lengths[:5] = [0, take, take + 1, 4 * take, 4 * take - 1]
    indptr = np.concatenate([[0], np.cumsum(lengths)])
    indices = np.concatenate([rng.permutation(1000)[:n] for n in lengths]).astype(np.int32)
    data = rng.integers(1, 8, size=indptr[-1]) / 4.0  # 7 distinct values: ties everywhere
    row, col, val, rank = recommendations._top_per_row(indptr, indices, data, take)
    got = [
        (int(r), int(c), float(v), int(k)) for r, c, v, k in zip(row, col, val, rank, strict=True)
    ]
    assert got == _reference_top(indptr, indices, data, take)


def _reference_recommend(model, data, count, include_purchased):
    """The scores as dense arrays and each person's list built in Python."""
    products = model.products.to_pylist()
    bought: dict[int, set[int]] = {}
    if not include_purchased:
        index = {p: j for j, p in enumerate(products)}
        people = {p: i for i, p in enumerate(model.people.to_pylist())}
        for person, product in zip(
            data.purchased.person.to_pylist(), data.purchased.product.to_pylist(), strict=True
        ):
            if person in people and product in index:
                bought.setdefault(people[person], set()).add(index[product])
    popular = sorted(range(len(products)), key=lambda j: (-model.popularity[j], j))
    scores = np.round(model.matrix.toarray() @ model.similarity.toarray(), 6)
    take = min(count, len(products))
    rows = []
    for i, person in enumerate(model.people.to_pylist()):
        mine = bought.get(i, set())
        scored = [(j, s) for j, s in enumerate(scores[i]) if s > 0 and j not in mine]
        ranked = sorted(scored, key=lambda e: (-e[1], e[0]))[:take]
        rows += [(person, products[j], k + 1, s, "item_item") for k, (j, s) in enumerate(ranked)]
        have = {j for j, _ in scored} | mine
        fill = [j for j in popular if j not in have][: take - len(ranked)]
        rows += [
            (person, products[j], len(ranked) + k + 1, 0.0, "popular") for k, j in enumerate(fill)
        ]
    return rows


@pytest.mark.parametrize("include_purchased", [False, True])
def test_recommend_equals_a_dense_reference(include_purchased, monkeypatch):
    """300 people, 60 products, weights 1/3/5 with repeats, purchases for some people: the
    sparse batched implementation (small batches, few neighbours, so truncation, batch
    edges, short histories and popular fills all occur) writes the rows a dense, per-person
    Python version of the same rules writes."""
    monkeypatch.setattr(recommendations, "BATCH", 64)
    monkeypatch.setattr(recommendations, "NEIGHBOURS", 6)
    rng = np.random.default_rng(11)
    weights: dict[tuple[str, str], float] = {}
    for person in range(300):
        for product in rng.choice(60, size=rng.integers(1, 12), replace=False):
            key = (f"p{person:03d}", f"i{product:02d}")
            weights[key] = float(rng.choice([1.0, 2.0, 3.0, 5.0, 8.0]))
    purchased = {
        f"p{person:03d}": {f"i{product:02d}" for product in rng.choice(60, size=3)}
        for person in range(0, 300, 4)
    }
    data = Interactions.from_mappings(weights, purchased)
    model = recommendations.fit(data)
    got = recommendations.recommend(model, data, 10, include_purchased).rows()
    expected = _reference_recommend(model, data, 10, include_purchased)
    assert got == expected
    assert any(source == "popular" for *_, source in got)
    # only some people (the evaluation recommends for the people it evaluates): their rows
    some = np.arange(0, len(model.people), 3)
    chosen = {model.people[int(i)].as_py() for i in some}
    subset = recommendations.recommend(model, data, 10, include_purchased, people=some).rows()
    assert subset == [row for row in expected if row[0] in chosen]


def test_no_recommendation_was_bought_before(warehouse_copy: Path, settings: MlSettings):
    wh = open_warehouse(warehouse_copy)
    try:
        result = recommendations.run(wh, settings)
        recommendations.write(wh, "ml", settings.as_of, result)
        bought_again = wh.query(
            """
            select count(*)
            from ml.product_recommendations as recs
            inner join analytics_core.fct_orders as orders
                on recs.person_id = orders.person_id
            inner join analytics_staging.stg_shop__order_items as items
                on orders.order_id = items.order_id and recs.product_id = items.product_id
            where orders.is_completed and orders.ordered_at < ?
            """,
            (settings.as_of,),
        )[0][0]
        buyers_recommended = wh.query(
            """
            select count(distinct recs.person_id)
            from ml.product_recommendations as recs
            inner join analytics_core.fct_orders as orders
                on recs.person_id = orders.person_id and orders.is_completed
            """
        )[0][0]
    finally:
        wh.close()
    assert bought_again == 0
    assert buyers_recommended > 0  # the check covers people who did buy
    m = result.metrics
    assert m["evaluated_people"] > 0
    assert 0 <= m["precision_at_n"] <= 1 and 0 <= m["popular_precision_at_n"] <= 1
