"""Helpers of the `audiences ml` tests (tests/python/ml/)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reverse_etl.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[2]
AS_OF = "2026-11-24T00:00:00"
#: the tables `audiences ml` writes, with the columns that order their rows
ML_TABLES = {
    "personas": "persona_key",
    "persona_assignments": "person_id",
    "propensity_scores": "person_id",
    "propensity_calibration": "model, bin",
    "micro_segments": "micro_segment_key",
    "micro_segment_assignments": "person_id",
    "product_recommendations": "person_id, rank",
    "model_metrics": "as_of, model, metric",
}


def built_warehouse() -> Path:
    """The test warehouse of `make build-test-warehouse` ($AUDIENCES_REAL_MART_DB); skipped
    without it, failed in CI."""
    db = Path(os.environ.get("AUDIENCES_REAL_MART_DB", REPO / "audiences.duckdb"))
    if not db.exists():
        reason = f"no built warehouse at {db} (run `make build-test-warehouse`)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return db


def open_warehouse(path: Path) -> DuckDBWarehouse:
    return DuckDBWarehouse(str(path))
