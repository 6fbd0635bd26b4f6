"""Item-item recommendations: cosine similarities and scores computed by hand on a tiny
matrix; products already bought are never recommended unless configured; on the test
warehouse, no recommendation is a product the person bought before as_of."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from ml_support import open_warehouse

from audiences.ml import recommendations
from audiences.ml.interactions import Interactions
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
