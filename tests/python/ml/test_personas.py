"""Persona labels are derived from the profile; the top-value persona is the top 10 % of
customers by lifetime revenue; every person of dim_users has exactly one persona."""

from __future__ import annotations

import math
from pathlib import Path

from ml_support import open_warehouse

from audiences.ml import personas
from audiences.ml.persona_labels import persona_key, persona_label
from audiences.ml.settings import MlSettings


def test_label_names_the_three_largest_differences_in_trait_order():
    differences = {
        "sessions_30d": 1.2,
        "average_order_value": 0.9,
        "is_mobile": 0.7,
        "evening_session_share": 0.6,  # fourth largest: left out
        "email_open_rate_90d": 0.1,  # below half a standard deviation
    }
    assert persona_label(differences, buyer_share=0.8) == "frequent high-AOV mobile buyer"


def test_label_uses_low_words_below_the_population_and_visitor_for_non_buyers():
    differences = {"sessions_30d": -0.8, "is_mobile": -0.6, "days_since_last_visit": 0.4}
    assert persona_label(differences, buyer_share=0.2) == "occasional desktop visitor"
    assert persona_label({}, buyer_share=0.5) == "typical buyer"


def test_keys_are_label_slugs_made_unique():
    taken: set[str] = set()
    assert persona_key("frequent high-AOV mobile buyer", taken) == (
        "persona_frequent_high_aov_mobile_buyer"
    )
    assert persona_key("frequent high-AOV mobile buyer", taken) == (
        "persona_frequent_high_aov_mobile_buyer_2"
    )


def test_personas_on_the_test_warehouse(warehouse_copy: Path, settings: MlSettings):
    wh = open_warehouse(warehouse_copy)
    try:
        result = personas.run(wh, settings)
        people = wh.query("select count(*) from analytics_core.dim_users")[0][0]
        customers = wh.query(
            "select count(*) from analytics_core.dim_users where revenue_lifetime > 0"
        )[0][0]
    finally:
        wh.close()
    assert len(result.person_ids) == people == sum(p.size for p in result.personas)
    k = int(result.metrics["kmeans_k"])
    assert settings.var("persona_k_min") <= k <= settings.var("persona_k_max")
    # the chosen k has the best silhouette of the range
    sils = [result.metrics[f"kmeans_silhouette_k{i}"] for i in range(3, 9)]
    assert result.metrics["kmeans_silhouette"] == max(sils)
    clusters = [p for p in result.personas if not p.is_top_value]
    assert len(clusters) == k
    for p in clusters:
        # the label is the one its own profile gives
        assert p.label == persona_label(p.differences, p.buyer_share)
        assert p.key.startswith("persona_")
    top = [p for p in result.personas if p.is_top_value]
    assert len(top) == 1 and top[0].size == math.ceil(customers * 0.10)
    assert top[0].buyer_share == 1.0
