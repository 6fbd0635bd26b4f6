"""End to end on the real `aud_hubspot_contacts` mart built by dbt.

Uses the DuckDB file in $AUDIENCES_REAL_MART_DB (default: <repo>/audiences.duckdb) and the
dbt artifacts in $AUDIENCES_REAL_MART_TARGET (default: <repo>/target), i.e. run
`dbt build` first. The file is copied: the sync's state never lands in your warehouse.
Skipped, with the reason, when no built mart is found.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from retl_support import FAST_RETRY, TOKEN, emulator_config

from audiences_emulators.hubspot import HubSpotEmulator
from reverse_etl.config import load_project
from reverse_etl.engine import SyncEngine
from reverse_etl.manifest import resolve_model
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[3]


def _render(v) -> str:
    if v is None:
        return ""
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(v)


def _locate():
    db = Path(os.environ.get("AUDIENCES_REAL_MART_DB", REPO / "audiences.duckdb"))
    target = Path(os.environ.get("AUDIENCES_REAL_MART_TARGET", REPO / "target"))
    if not db.exists() or not (target / "manifest.json").exists():
        reason = f"no built mart: {db} or {target}/manifest.json missing (run `dbt build`)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must sync the real audience mart")
        pytest.skip(reason)
    manifest = json.loads((target / "manifest.json").read_text())
    try:
        rel = resolve_model(manifest, "aud_hubspot_contacts")
    except Exception as exc:
        pytest.skip(f"aud_hubspot_contacts not in {target}/manifest.json: {exc}")
    return db, target, rel


def test_sync_real_mart_end_to_end(tmp_path, monkeypatch):
    db, target, rel = _locate()
    shutil.copy(db, tmp_path / "w.duckdb")
    (tmp_path / "target").mkdir()
    for f in ("manifest.json", "run_results.json"):
        if (target / f).exists():
            shutil.copy(target / f, tmp_path / "target" / f)
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    try:
        if not wh.columns(rel.schema, rel.identifier):
            pytest.skip(f"{rel.schema}.{rel.identifier} is not built in {db}")
        # the copy starts with no sync state, whatever was synced from the original before
        wh.execute("drop schema if exists reverse_etl cascade")
    finally:
        wh.close()
    cfg = yaml.safe_load((REPO / "syncs.yml").read_text())
    sync = next(s for s in cfg["syncs"] if s["name"] == "hubspot_contacts")
    sync["rate_limit"] = "off"
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [sync]}, allow_unicode=True))
    emu = HubSpotEmulator(config=emulator_config(custom_properties=set(sync["mapping"]))).start()
    monkeypatch.setenv("HUBSPOT_BASE_URL", emu.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    project = load_project(tmp_path / "syncs.yml")
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    try:
        engine = SyncEngine(project, wh, retry_policy=FAST_RETRY)
        s = project.file.syncs[0]
        res = engine.run(s, ignore_tests=True)
        assert res.status == "success", res.error or res.rejections[:3]
        cols = list(sync["mapping"].values())
        rows = wh.query(f"SELECT {', '.join(cols)} FROM {rel.schema}.{rel.identifier}")
        assert res.counts["added"] == len(rows)
        assert emu.list_members(sync["list"]) == {r[cols.index("email")] for r in rows}
        for r in rows:
            contact = emu.contact_by_email(r[cols.index("email")])
            want = {p: _render(r[cols.index(c)]) for p, c in sync["mapping"].items()}
            assert {p: contact["properties"].get(p) for p in sync["mapping"]} == want
        calls = emu.api_calls
        assert engine.run(s, ignore_tests=True).counts == {"unchanged": len(rows)}
        assert emu.api_calls == calls
        if rows:
            wh.execute(
                f"UPDATE {rel.schema}.{rel.identifier} SET city = 'Reykjavik' WHERE email = ?",
                (rows[0][cols.index("email")],),
            )
            res = engine.run(s, ignore_tests=True)
            assert res.counts["changed"] == 1 and res.counts["unchanged"] == len(rows) - 1
    finally:
        wh.close()
        emu.stop()
