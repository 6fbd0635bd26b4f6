"""`audiences report`: sizes, overlaps, change since the previous build, --json."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner

from audiences.report import report

SCHEMA = "analytics_segments"


def _write_manifest(target: Path, database_name: str) -> None:
    target.mkdir(parents=True, exist_ok=True)
    node = {
        "resource_type": "model",
        "name": "segment_memberships",
        "database": database_name,
        "schema": SCHEMA,
        "alias": "segment_memberships",
        "relation_name": f'"{database_name}"."{SCHEMA}"."segment_memberships"',
    }
    manifest = {"nodes": {"model.audiences.segment_memberships": node}}
    (target / "manifest.json").write_text(json.dumps(manifest))


def _load(db: Path, as_of: str, rows: list[tuple[str, str | None, str, str, bool]]) -> None:
    con = duckdb.connect(str(db))
    con.execute(f"create schema if not exists {SCHEMA}")
    con.execute(
        f"create or replace table {SCHEMA}.segment_memberships ("
        "person_id varchar, user_id varchar, segment_key varchar, segment_family varchar, "
        "is_holdout boolean, as_of timestamp)"
    )
    con.executemany(
        f"insert into {SCHEMA}.segment_memberships values (?, ?, ?, ?, ?, cast(? as timestamp))",
        [(*row, as_of) for row in rows],
    )
    con.close()


@pytest.fixture()
def warehouse(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "wh.duckdb"
    target = tmp_path / "target"
    _write_manifest(target, "wh")
    _load(
        db,
        "2026-11-01 00:00:00",
        [
            ("u1", "u1", "high_value", "lifecycle", False),
            ("u2", "u2", "high_value", "lifecycle", True),
            ("u1", "u1", "engaged_user", "engagement", False),
            ("u3", "u3", "engaged_user", "engagement", False),
            ("a9", None, "engaged_user", "engagement", False),
            ("u3", "u3", "interested_in_books", "multi_criteria", False),
        ],
    )
    return db, target


def _run(db: Path, target: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        report, ["--database", str(db), "--target-path", str(target), "--json", *args]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_sizes_holdout_and_audience(warehouse: tuple[Path, Path]) -> None:
    data = _run(*warehouse)
    sizes = {s["segment_key"]: s for s in data["segments"]}
    assert sizes["high_value"]["members"] == 2
    assert sizes["high_value"]["holdout"] == 1
    assert sizes["high_value"]["audience"] == 1
    # anonymous members cannot reach an audience
    assert sizes["engaged_user"]["members"] == 3
    assert sizes["engaged_user"]["audience"] == 2
    assert data["as_of"] == "2026-11-01 00:00:00"
    assert data["people_in_segments"] == 4
    assert data["has_previous_build"] is False


def test_overlaps_skip_micro_segments(warehouse: tuple[Path, Path]) -> None:
    data = _run(*warehouse)
    assert data["main_segments"] == ["engaged_user", "high_value"]
    (overlap,) = data["overlaps"]
    assert overlap["both"] == 1
    assert overlap["share_of_a"] == pytest.approx(1 / 3)
    assert overlap["share_of_b"] == pytest.approx(1 / 2)


def test_change_since_previous_build(warehouse: tuple[Path, Path]) -> None:
    db, target = warehouse
    _run(db, target)
    # reporting the same build again keeps comparing with nothing older
    assert _run(db, target)["has_previous_build"] is False
    _load(
        db,
        "2026-11-02 00:00:00",
        [
            ("u1", "u1", "high_value", "lifecycle", False),
            ("u4", "u4", "potential_buyer", "multi_criteria", False),
        ],
    )
    data = _run(db, target)
    assert data["has_previous_build"] is True
    assert data["previous_as_of"] == "2026-11-01 00:00:00"
    changes = {s["segment_key"]: s["change"] for s in data["segments"]}
    assert changes["high_value"] == -1
    assert changes["potential_buyer"] == 1
    assert changes["engaged_user"] == -3
    families = {s["segment_key"]: s["segment_family"] for s in data["segments"]}
    assert families["engaged_user"] == "engagement"
    # and once more on the same build: still compared with the build before
    assert _run(db, target)["previous_as_of"] == "2026-11-01 00:00:00"


def test_human_table(warehouse: tuple[Path, Path]) -> None:
    db, target = warehouse
    result = CliRunner().invoke(report, ["--database", str(db), "--target-path", str(target)])
    assert result.exit_code == 0, result.output
    assert "high_value" in result.output
    assert "Overlaps between the main segments" in result.output


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        report, ["--database", str(tmp_path / "x.duckdb"), "--target-path", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert "manifest.json" in result.output
