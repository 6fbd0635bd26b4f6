"""The `audiences ml` tests run on a copy of the test warehouse built by
`make build-test-warehouse` (200,000 generated events, seed 7, as_of 2026-11-24), named by
$AUDIENCES_REAL_MART_DB like the other tests on the built warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ml_support import AS_OF, REPO, built_warehouse

from audiences.ml.settings import MlSettings, load_settings


@pytest.fixture
def warehouse_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "warehouse.duckdb"
    shutil.copy(built_warehouse(), copy)
    return copy


@pytest.fixture
def settings() -> MlSettings:
    return load_settings(AS_OF, project_dir=REPO, schema_prefix="analytics")
