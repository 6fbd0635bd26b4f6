"""Fixtures for the reverse_etl suite; helpers live in retl_support.py next to this file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from retl_support import (
    TOKEN,
    Env,
    create_table,
    emulator_config,
    insert_rows,
    make_rows,
    write_manifest,
)

from audiences_emulators.hubspot import HubSpotEmulator
from reverse_etl.warehouse.duckdb import DuckDBWarehouse


@pytest.fixture
def hubspot(monkeypatch):
    emu = HubSpotEmulator(config=emulator_config()).start()
    monkeypatch.setenv("HUBSPOT_BASE_URL", emu.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    yield emu
    emu.stop()


@pytest.fixture
def make_env(tmp_path, hubspot):
    def factory(
        n: int = 300, seed: int = 7, rows: list[dict[str, Any]] | None = None, **overrides: Any
    ) -> Env:
        root = tmp_path
        db = root / "warehouse.duckdb"
        wh = DuckDBWarehouse(str(db))
        try:
            create_table(wh)
            insert_rows(wh, rows if rows is not None else make_rows(n, seed))
        finally:
            wh.close()
        write_manifest(root / "target")
        env = Env(root, db, hubspot, overrides)
        env.write_syncs()
        return env

    return factory


@pytest.fixture(autouse=True)
def _no_crash_hook(monkeypatch):
    monkeypatch.delenv("AUDIENCES_TEST_CRASH_AT", raising=False)
    os.environ.pop("AUDIENCES_TEST_CRASH_AT", None)
