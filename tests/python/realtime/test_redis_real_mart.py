"""The repository's sync `realtime_profiles` on the real `aud_realtime_profiles` mart built by
dbt, into a real Redis: every person's keys match the mart row for row.

Uses the DuckDB file in $AUDIENCES_REAL_MART_DB (default: <repo>/audiences.duckdb) and the
dbt artifacts in $AUDIENCES_REAL_MART_TARGET (default: <repo>/target), as
tests/python/reverse_etl/test_real_mart.py (`make pytest` points them at the test
warehouse). The file is copied: the sync's state never lands in your warehouse. Skipped,
with the reason, when no built mart is found."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from reverse_etl.config import load_project
from reverse_etl.engine import SyncEngine
from reverse_etl.manifest import resolve_model
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[3]
MODEL = "aud_realtime_profiles"


def _locate():
    db = Path(os.environ.get("AUDIENCES_REAL_MART_DB", REPO / "audiences.duckdb"))
    target = Path(os.environ.get("AUDIENCES_REAL_MART_TARGET", REPO / "target"))
    if not db.exists() or not (target / "manifest.json").exists():
        reason = f"no built mart: {db} or {target}/manifest.json missing (run `dbt build`)"
        if os.environ.get("CI"):
            pytest.fail(reason + "; CI must sync the real mart")
        pytest.skip(reason)
    manifest = json.loads((target / "manifest.json").read_text())
    try:
        rel = resolve_model(manifest, MODEL)
    except Exception as exc:
        pytest.skip(f"{MODEL} not in {target}/manifest.json: {exc}")
    return db, target, rel


def test_the_real_mart_lands_in_redis_person_by_person(
    tmp_path, monkeypatch, redis_client, redis_url, keys
):
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
        wh.execute("drop schema if exists reverse_etl cascade")
        rows = wh.query(
            "select person_id, segment_keys, known_ids, "
            "strftime(as_of, '%Y-%m-%dT%H:%M:%SZ') "
            f"from {rel.schema}.{rel.identifier}"
        )
    finally:
        wh.close()
    cfg = yaml.safe_load((REPO / "syncs.yml").read_text())
    sync = next(s for s in cfg["syncs"] if s["name"] == "realtime_profiles")
    sync["options"]["prefix"] = keys.prefix
    (tmp_path / "syncs.yml").write_text(yaml.safe_dump({"syncs": [sync]}))
    monkeypatch.setenv("AUDIENCES_REDIS_URL", redis_url)
    project = load_project(tmp_path / "syncs.yml")
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    try:
        result = SyncEngine(project, wh, crash_spec="").run(
            project.file.syncs[0], ignore_tests=True
        )
    finally:
        wh.close()
    assert result.status == "success", result.error
    assert result.counts["added"] == len(rows) > 0

    pipe = redis_client.pipeline(transaction=False)
    for person_id, _segments, known_ids, _as_of in rows:
        pipe.smembers(keys.batch_segments(person_id))
        for some_id in known_ids.split(";"):
            pipe.get(keys.batch_person_of(some_id))
    replies = iter(pipe.execute())
    for person_id, segments, known_ids, _as_of in rows:
        assert next(replies) == set(segments.split(";") if segments else ()), person_id
        for some_id in known_ids.split(";"):
            assert next(replies) == person_id, some_id
    seg_keys = list(redis_client.scan_iter(match=keys.batch_segments("*"), count=1000))
    assert len(seg_keys) == sum(1 for r in rows if r[1])
    assert redis_client.hget(keys.batch_meta, "as_of") == max(r[3] for r in rows)
