"""Drift warnings between two builds' metrics, thresholds from the vars."""

from __future__ import annotations

from pathlib import Path

from ml_support import open_warehouse

from audiences.ml import drift, tables
from audiences.ml.settings import MlSettings

BEFORE = {
    ("personas", "silhouette"): 0.30,
    ("personas", "size_persona_a"): 1000.0,
    ("personas", "size_persona_b"): 1000.0,
    ("propensity_hgb", "auc"): 0.90,
    ("recommendations_item_item", "precision_at_n"): 0.05,
}


def test_only_moves_beyond_the_thresholds_warn(settings: MlSettings):
    within = {
        ("personas", "silhouette"): 0.39,  # +0.09 <= 0.1
        ("personas", "size_persona_a"): 1250.0,  # +25 % <= 25 %
        ("personas", "size_persona_b"): 760.0,  # -24 %
        ("propensity_hgb", "auc"): 0.86,  # -0.04 <= 0.05
        ("recommendations_item_item", "precision_at_n"): 0.031,  # -0.019 <= 0.02
    }
    assert drift.compare(BEFORE, within, settings) == []
    beyond = {
        ("personas", "silhouette"): 0.18,
        ("personas", "size_persona_a"): 1260.0,
        ("personas", "size_persona_b"): 1000.0,
        ("propensity_hgb", "auc"): 0.84,
        ("recommendations_item_item", "precision_at_n"): 0.029,
        ("personas", "size_persona_new"): 5.0,  # no previous value: nothing to compare
    }
    warnings = [str(w) for w in drift.compare(BEFORE, beyond, settings)]
    assert warnings == [
        "personas silhouette: 0.3 -> 0.18 (beyond ±0.1)",
        "personas size_persona_a: 1000 -> 1260 (beyond ±25 %)",
        "propensity_hgb auc: 0.9 -> 0.84 (beyond a drop of 0.05)",
        "recommendations_item_item precision_at_n: 0.05 -> 0.029 (beyond a drop of 0.02)",
    ]


def test_check_reads_the_previous_build_from_the_history(tmp_path: Path, settings: MlSettings):
    wh = open_warehouse(tmp_path / "w.duckdb")
    try:
        assert drift.check(wh, settings) == []  # no history yet
        earlier = settings.as_of.replace(day=17)
        tables.write_metrics(wh, "ml", earlier, "propensity_hgb", {"auc": 0.9})
        tables.write_metrics(wh, "ml", settings.as_of, "propensity_hgb", {"auc": 0.8})
        assert [str(w) for w in drift.check(wh, settings)] == [
            "propensity_hgb auc: 0.9 -> 0.8 (beyond a drop of 0.05)"
        ]
    finally:
        wh.close()
