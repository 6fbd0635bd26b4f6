"""`audiences load-spark` must not replace the DuckDB manifest the sync reads.

Before the fix, `load-spark` ran `dbt run-operation` with dbt's default target path, so
`target/manifest.json` became a Spark manifest and the next `audiences sync` on DuckDB failed
("model 'segment_membership_changes' is not in target/manifest.json"). The test runs the real
`dbt run-operation` of the loader (on the DuckDB target, where the operation refuses to load:
dbt-spark is not installed here) and checks where dbt wrote its manifest.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb
import pytest

from audiences.warehouse_copy import SPARK_TARGET_PATH, copy_raw_to_spark

REPO = Path(__file__).resolve().parents[3]
PROJECT_FILES = (
    "dbt_project.yml",
    "profiles.yml",
    "packages.yml",
    "models",
    "macros",
    "seeds",
    "snapshots",
    "segments",
    "tests",
    "dbt_packages",
)


def test_load_spark_writes_its_manifest_to_target_spark_not_target(tmp_path, monkeypatch):
    if not (REPO / "dbt_packages").is_dir():
        pytest.skip("dbt packages not installed (run `make setup`)")
    project = tmp_path / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        if (REPO / name).exists():
            (project / name).symlink_to(REPO / name)
    target = project / "target"
    target.mkdir()
    duckdb_manifest = json.dumps({"metadata": {"adapter_type": "duckdb"}, "nodes": {}})
    (target / "manifest.json").write_text(duckdb_manifest)
    raw = tmp_path / "raw.duckdb"
    duckdb.connect(str(raw)).close()
    monkeypatch.setenv("DBT_PROFILES_DIR", str(project))
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(tmp_path / "dbt.duckdb"))
    monkeypatch.setenv("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")

    with pytest.raises(click.ClickException, match="failed on the duckdb target"):
        copy_raw_to_spark(
            raw, tmp_path / "spark", tables=(), project_dir=project, dbt_target="duckdb"
        )

    assert (target / "manifest.json").read_text() == duckdb_manifest
    written = json.loads((project / SPARK_TARGET_PATH / "manifest.json").read_text())
    assert written["metadata"]["adapter_type"] == "duckdb"  # (the target this test ran)
    assert "model.audiences.segment_membership_changes" in written["nodes"]
