"""Python never holds the whole model: the sync's peak memory does not grow with rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from retl_support import TOKEN, create_table, insert_rows, make_rows, write_manifest

from reverse_etl.warehouse.duckdb import DuckDBWarehouse

REPO = Path(__file__).resolve().parents[3]
CHILD = """
import json, resource, sys, tracemalloc
from reverse_etl.config import load_project
from reverse_etl.engine import SyncEngine
from reverse_etl.warehouse.duckdb import DuckDBWarehouse
project = load_project(sys.argv[1])
wh = DuckDBWarehouse(sys.argv[2])
engine = SyncEngine(project, wh)
tracemalloc.start()
res = engine.run(project.file.syncs[0])
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({"status": res.status, "added": res.counts.get("added"), "py_peak": peak}))
"""


def _peak(env, rows: int, tmp: Path) -> dict:
    db = tmp / f"m{rows}.duckdb"
    wh = DuckDBWarehouse(str(db))
    create_table(wh)
    insert_rows(wh, make_rows(rows))
    wh.close()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(env.config_path), str(db)],
        env={
            **os.environ,
            "PYTHONPATH": str(REPO),
            "HUBSPOT_BASE_URL": env.emulator.url,
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "AUDIENCES_SYNC_PAGE_ROWS": "500",
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_python_heap_does_not_grow_with_rows(make_env, tmp_path):
    env = make_env(n=1)
    write_manifest(env.root / "target")
    small = _peak(env, 800, tmp_path)
    env.emulator.reset()
    large = _peak(env, 3_200, tmp_path)
    assert (small["status"], small["added"]) == ("success", 800)
    assert (large["status"], large["added"]) == ("success", 3_200)
    # 4x the rows (2,400 more rows would be > 3 MB of Python objects); one page of the work
    # table (500 rows here) bounds the heap instead.
    assert large["py_peak"] < small["py_peak"] * 1.1 + 2**19, (small, large)
