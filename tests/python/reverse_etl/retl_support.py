"""Helpers for the reverse_etl suite (imported by conftest.py and the tests): temporary
DuckDB warehouses holding an `aud_hubspot_contacts` table with the mart's exact columns,
a fabricated dbt manifest and run_results, a syncs.yml, and an in-process HubSpot emulator
over real HTTP.

Set REVERSE_ETL_TEST_REAL_MART=/path/to/audiences.duckdb (+ REVERSE_ETL_TEST_REAL_SCHEMA) to
run the end-to-end tests on the real mart instead of the fabricated one.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from audiences_emulators.hubspot import HubSpotConfig, HubSpotEmulator
from reverse_etl.config import Project, load_project
from reverse_etl.engine import SyncEngine
from reverse_etl.http.transport import RetryPolicy
from reverse_etl.warehouse.base import Warehouse
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

TOKEN = "pat-na1-TEST-SECRET-7f3a9c1e-d00d-4b1d"  # looks like a HubSpot private app token
SCHEMA = "main_audiences"
TABLE = "aud_hubspot_contacts"
COLUMNS = {
    "email": "VARCHAR",
    "user_id": "VARCHAR",
    "first_name": "VARCHAR",
    "last_name": "VARCHAR",
    "phone": "VARCHAR",
    "country": "VARCHAR",
    "city": "VARCHAR",
    "segments": "VARCHAR",
    "rfm_segment": "VARCHAR",
    "intent_tier": "VARCHAR",
    "lifetime_revenue": "DOUBLE",
    "orders_count": "INTEGER",
    "last_order_at": "TIMESTAMP",
    "as_of": "TIMESTAMP",
}
MAPPING = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "phone": "phone",
    "country": "country",
    "city": "city",
    "warehouse_user_id": "user_id",
    "audiences_segments": "segments",
    "audiences_rfm_segment": "rfm_segment",
    "audiences_intent_tier": "intent_tier",
    "audiences_lifetime_revenue": "lifetime_revenue",
    "audiences_orders_count": "orders_count",
    "audiences_last_order_at": "last_order_at",
}
LIST_NAME = "Audiences – all synced contacts"  # noqa: RUF001 - the name in syncs.yml
SEGMENTS = [
    "champions",
    "high_engagement",
    "high_purchase_intent",
    "interested_in_shoes",
    "potential_buyer",
    "high_value",
]
FAST_RETRY = RetryPolicy(
    max_attempts=10, base_seconds=0.01, max_wait_seconds=0.2, timeout_seconds=2.0
)


def make_rows(n: int, seed: int = 7, start: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    base = datetime(2026, 3, 1)
    for i in range(start, start + n):
        segs = sorted(rng.sample(SEGMENTS, rng.randint(0, 3)))
        rows.append(
            {
                "email": f"person{i:07d}@example.com",
                "user_id": f"u{i:07d}",
                "first_name": rng.choice(["Ana", "Ben", "Chloé", "Dev", None]),
                "last_name": rng.choice(["Ng", "O'Brien", "Smith", "Łukasz"]),
                "phone": None if i % 7 == 0 else f"+1555{i:07d}",
                "country": rng.choice(["US", "FR", "DE"]),
                "city": rng.choice(["Paris", "Berlin", "NYC"]),
                "segments": ";".join(segs),
                "rfm_segment": rng.choice(["champions", "at_risk", "hibernating"]),
                "intent_tier": rng.choice(["hot", "warm", "cold"]),
                "lifetime_revenue": round(rng.uniform(0, 900), 2),
                "orders_count": rng.randint(0, 40),
                "last_order_at": None
                if i % 5 == 0
                else base - timedelta(minutes=rng.randint(0, 90_000)),
                "as_of": base,
            }
        )
    return rows


def expected_properties(row: dict[str, Any]) -> dict[str, str]:
    """What HubSpot must hold for a model row (the sync's text rendering, NULL -> '')."""
    out = {}
    for prop, col in MAPPING.items():
        v = row[col]
        if v is None:
            out[prop] = ""
        elif isinstance(v, datetime):
            out[prop] = v.strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            out[prop] = str(v)
    return out


def insert_rows(
    wh: Warehouse, rows: list[dict[str, Any]], table: str = f"{SCHEMA}.{TABLE}"
) -> None:
    cols = list(COLUMNS)
    for i in range(0, len(rows), 500):
        wh.insert_rows(table, cols, [[r[c] for c in cols] for r in rows[i : i + 500]])


def create_table(wh: Warehouse, schema: str = SCHEMA) -> None:
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    types = dict(COLUMNS)
    if wh.dialect == "postgres":
        types = {
            k: {"VARCHAR": "TEXT", "DOUBLE": "DOUBLE PRECISION"}.get(v, v) for k, v in types.items()
        }
    wh.execute(f"CREATE TABLE {schema}.{TABLE} ({', '.join(f'{k} {v}' for k, v in types.items())})")


def write_manifest(
    target: Path, schema: str = SCHEMA, test_status: str = "pass", model_status: str = "success"
) -> None:
    target.mkdir(parents=True, exist_ok=True)
    uid = f"model.audiences.{TABLE}"
    tid = f"test.audiences.not_null_{TABLE}_email.abc123"
    manifest = {
        "metadata": {"project_name": "audiences"},
        "nodes": {
            uid: {
                "resource_type": "model",
                "name": TABLE,
                "alias": TABLE,
                "schema": schema,
                "database": "warehouse",
                "unique_id": uid,
                "package_name": "audiences",
            },
            tid: {
                "resource_type": "test",
                "name": f"not_null_{TABLE}_email",
                "unique_id": tid,
                "depends_on": {"nodes": [uid]},
                "attached_node": uid,
                "package_name": "audiences",
            },
        },
        "unit_tests": {},
    }
    (target / "manifest.json").write_text(json.dumps(manifest))
    run_results = {
        "results": [
            {
                "unique_id": uid,
                "status": model_status,
                "message": "OK" if model_status == "success" else "boom",
            },
            {
                "unique_id": tid,
                "status": test_status,
                "failures": 0 if test_status == "pass" else 3,
                "message": None
                if test_status == "pass"
                else "Got 3 results, configured to fail if != 0",
            },
        ]
    }
    (target / "run_results.json").write_text(json.dumps(run_results))


@dataclass
class Env:
    """One test project: DuckDB file, dbt artifacts, syncs.yml, emulator."""

    root: Path
    db_path: Path
    emulator: HubSpotEmulator
    sync_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.root / "syncs.yml"

    def write_syncs(self, **overrides: Any) -> Path:
        sync = {
            "name": "hubspot_contacts",
            "model": TABLE,
            "destination": "hubspot",
            "mode": "mirror",
            "identity": "email",
            "list": LIST_NAME,
            "max_removal_pct": 10,
            "mapping": MAPPING,
            "options": {"clear_on_removal": ["audiences_segments"]},
            "rate_limit": "off",
        }
        sync.update(self.sync_overrides)
        sync.update(overrides)
        self.config_path.write_text(
            yaml.safe_dump({"version": 1, "target": "duckdb", "syncs": [sync]}, allow_unicode=True)
        )
        return self.config_path

    def project(self) -> Project:
        if not self.config_path.exists():
            self.write_syncs()
        return load_project(self.config_path)

    def warehouse(self) -> DuckDBWarehouse:
        return DuckDBWarehouse(str(self.db_path))

    def run(self, **kwargs: Any):
        project = self.project()
        wh = self.warehouse()
        try:
            engine = SyncEngine(project, wh, retry_policy=kwargs.pop("retry_policy", FAST_RETRY))
            return engine.run(project.file.syncs[0], **kwargs)
        finally:
            wh.close()

    def sql(self, sql: str, params: tuple = ()) -> list[tuple]:
        wh = self.warehouse()
        try:
            return wh.query(sql, params)
        finally:
            wh.close()

    def exec(self, sql: str, params: tuple = ()) -> None:
        wh = self.warehouse()
        try:
            wh.execute(sql, params)
        finally:
            wh.close()

    def model_rows(self) -> dict[str, dict[str, Any]]:
        wh = self.warehouse()
        try:
            cols = list(COLUMNS)
            rows = wh.query(f"SELECT {', '.join(cols)} FROM {SCHEMA}.{TABLE}")
        finally:
            wh.close()
        return {r[0]: dict(zip(cols, r, strict=True)) for r in rows}

    def assert_destination_equals_model(self) -> None:
        model = self.model_rows()
        emu = self.emulator
        assert emu.list_members(LIST_NAME) == set(model)
        for email, row in model.items():
            contact = emu.contact_by_email(email)
            assert contact is not None, email
            got = {k: contact["properties"].get(k) for k in MAPPING}
            assert got == expected_properties(row), email


def emulator_config(**kw: Any) -> HubSpotConfig:
    base = {"tokens": {TOKEN}, "burst": None, "daily": None, "custom_properties": set(MAPPING)}
    base.update(kw)
    return HubSpotConfig(**base)
