"""`audiences diff` on a real DuckDB warehouse with real dbt builds.

Production: a copy of the project, built on 20k generated events; its manifest (and its
dbt_project.yml) are the state artefacts. Each test edits another copy (the pull request)
and runs `audiences diff`; the expected entering / leaving counts are computed here
independently, with EXCEPT over production's and the pull request's segment_memberships.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from audiences.segment_diff.command import diff_command
from audiences.segment_diff.selection import changed_vars, models_reading_graph, models_reading_vars

REPO = Path(__file__).resolve().parents[3]
AS_OF = "2026-11-24T00:00:00"
PROD_TABLE = "analytics_segments.segment_memberships"
PR_TABLE = "analytics_pr_segments.segment_memberships"
MEMBERSHIPS = "model.audiences.segment_memberships"
PROJECT_FILES = ["dbt_project.yml", "profiles.yml", "packages.yml"]
PROJECT_DIRS = ["models", "macros", "seeds", "snapshots", "segments", "tests", "dbt_packages"]

pytestmark = pytest.mark.skipif(
    not (REPO / "dbt_packages" / "dbt_utils").exists(),
    reason="dbt packages not installed (scripts/install_dbt_packages.sh)",
)


def _bin(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def _env(db: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("AUDIENCES_SCHEMA", None)
    env.pop("DBT_PROFILES_DIR", None)
    return env


def _copy_project(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("python"))
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, root / name)
    return root


@pytest.fixture(scope="module")
def production(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(warehouse file, state directory) of a production build on 20k events."""
    base = tmp_path_factory.mktemp("diff")
    db = base / "warehouse.duckdb"
    project = _copy_project(base / "production")
    env = _env(db)
    subprocess.run(
        [_bin("audiences"), "generate", "--events", "20000", "--seed", "7", "--as-of", AS_OF],
        env=env,
        check=True,
        capture_output=True,
    )
    build = subprocess.run(
        # unit tests left out: their answers do not depend on the warehouse (`make
        # build-test-warehouse` runs them all); the manifest lists them all the same
        [
            _bin("dbt"),
            "build",
            "--vars",
            f"{{as_of: '{AS_OF}'}}",
            "--exclude-resource-type",
            "unit_test",
            "--target-path",
            "target",
        ],
        cwd=project,
        env={**env, "DBT_PROFILES_DIR": str(project)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-4000:]
    state = base / "state"
    state.mkdir()
    shutil.copy(project / "target" / "manifest.json", state / "manifest.json")
    shutil.copy(project / "dbt_project.yml", state / "dbt_project.yml")
    return db, state


def _pull_request(tmp_path: Path, edits: dict[str, list[tuple[str, str]]]) -> Path:
    """A copy of the project with textual edits {file: [(old, new), ...]}."""
    project = _copy_project(tmp_path / "pull_request")
    for name, replacements in edits.items():
        text = (project / name).read_text()
        for old, new in replacements:
            assert text.count(old) == 1, f"{old!r} is not once in {name}"
            text = text.replace(old, new)
        (project / name).write_text(text)
    return project


def _diff(db: Path, project: Path, *args: str) -> Result:
    return CliRunner().invoke(
        diff_command, ["--project-dir", str(project), *args], env=_env(db), catch_exceptions=False
    )


def _custom_segments_model(manifest: dict) -> str:
    """The model whose properties file is segments/custom_segments.yml."""
    (uid,) = [
        uid
        for uid, node in manifest["nodes"].items()
        if (node.get("patch_path") or "").endswith("segments/custom_segments.yml")
    ]
    return uid


def _descendants(manifest: dict, uid: str) -> set[str]:
    return _closure(manifest["child_map"], uid)


def _ancestors(manifest: dict, uid: str) -> set[str]:
    return _closure(manifest["parent_map"], uid)


def _closure(edges: dict[str, list[str]], start: str) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for other in edges.get(stack.pop(), []):
            if other not in seen:
                seen.add(other)
                stack.append(other)
    return seen


def _fingerprint(db: Path, table: str) -> tuple[int, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute(
            f"select count(*), sum(hash(person_id || '|' || segment_key)) from {table}"
        ).fetchone()
    finally:
        con.close()
    return int(row[0]), int(row[1])


def _expected_moves(db: Path) -> dict[str, tuple[int, int]]:
    """{segment_key: (entering, leaving)} for every segment that moved, by EXCEPT."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            f"""
            with entering as (
                select segment_key, person_id from {PR_TABLE}
                except
                select segment_key, person_id from {PROD_TABLE}
            ),
            leaving as (
                select segment_key, person_id from {PROD_TABLE}
                except
                select segment_key, person_id from {PR_TABLE}
            ),
            moves as (
                select segment_key, 1 as entering, 0 as leaving from entering
                union all
                select segment_key, 0, 1 from leaving
            )
            select segment_key, sum(entering), sum(leaving) from moves group by segment_key
            """
        ).fetchall()
    finally:
        con.close()
    return {key: (int(e), int(lv)) for key, e, lv in rows}


def _sizes(db: Path, table: str) -> dict[str, int]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(f"select segment_key, count(*) from {table} group by 1").fetchall()
    finally:
        con.close()
    return {key: int(n) for key, n in rows}


def test_unchanged_project_reports_no_change(production: tuple[Path, Path], tmp_path: Path):
    db, state = production
    project = _copy_project(tmp_path / "pull_request")
    result = _diff(db, project, "--state", str(state), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["status"] == "not_affected"
    assert report["segments"] == []
    assert report["changed_vars"] == []
    # only the models that read other nodes' declarations (graph) are rebuilt, always
    manifest = json.loads((state / "manifest.json").read_text())
    assert report["models_built"] == [
        f"model.audiences.{name}" for name in models_reading_graph(manifest)
    ]
    assert MEMBERSHIPS not in report["models_built"]


def test_custom_segment_thresholds(production: tuple[Path, Path], tmp_path: Path) -> None:
    db, state = production
    before = _fingerprint(db, PROD_TABLE)
    project = _pull_request(
        tmp_path,
        {
            "segments/custom_segments.yml": [
                (
                    '{column: revenue_lifetime, op: ">=", value: 300}',
                    '{column: revenue_lifetime, op: ">=", value: 150}',
                ),
                (
                    "{column: days_since_last_order, op: between, value: [60, 365]}",
                    "{column: days_since_last_order, op: between, value: [90, 365]}",
                ),
                # a renamed segment: the old key is removed, the new one added
                (
                    "- name: email_responsive_browsers",
                    "- name: email_first_purchase_prospects",
                ),
            ]
        },
    )
    summary = tmp_path / "summary.md"
    result = _diff(
        db, project, "--state", str(state), "--json", "--samples", "2", "--markdown", str(summary)
    )
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)

    expected = _expected_moves(db)
    # the edited segments move, and only them: one gains members, one loses some, one
    # is renamed
    assert set(expected) == {
        "high_value_mobile_evening_buyers",
        "win_back_desktop_shoppers",
        "email_responsive_browsers",
        "email_first_purchase_prospects",
    }
    assert expected["high_value_mobile_evening_buyers"][0] > 0
    assert expected["win_back_desktop_shoppers"][1] > 0
    assert report["status"] == "changed"
    assert report["pull_request_relation"].endswith('"analytics_pr_segments"."segment_memberships"')
    assert report["as_of"] == AS_OF
    moved = {s["segment_key"]: s for s in report["segments"] if s["status"] != "unchanged"}
    assert {key: (s["entering"], s["leaving"]) for key, s in moved.items()} == expected

    sizes_before, sizes_after = _sizes(db, PROD_TABLE), _sizes(db, PR_TABLE)
    added, removed = "email_first_purchase_prospects", "email_responsive_browsers"
    assert report["summary"]["segments_added"] == [added]
    assert report["summary"]["segments_removed"] == [removed]
    assert moved[added]["status"] == "added"
    assert moved[added]["members_before"] == 0
    assert moved[added]["entering"] == sizes_after[added] == sizes_before[removed] > 0
    assert moved[removed]["status"] == "removed"
    assert moved[removed]["members_after"] == 0
    assert moved[removed]["leaving"] == sizes_before[removed]
    for key, segment in moved.items():
        if key not in (added, removed):
            assert segment["status"] == "changed"
        assert segment["members_before"] == sizes_before.get(key, 0)
        assert segment["members_after"] == sizes_after.get(key, 0)
        assert len(segment["entering_samples"]) == min(2, segment["entering"])
        assert len(segment["leaving_samples"]) == min(2, segment["leaving"])
        for sample in segment["entering_samples"] + segment["leaving_samples"]:
            assert set(sample) == {"person_id", "user_id"}
    unchanged = [s for s in report["segments"] if s["status"] == "unchanged"]
    assert report["summary"]["segments_unchanged"] == len(unchanged) == len(sizes_before) - 3
    # the samples are the first person_ids, in order, of those who entered
    con = duckdb.connect(str(db), read_only=True)
    first_entering = [
        r[0]
        for r in con.execute(
            f"""select person_id from {PR_TABLE}
                where segment_key = 'high_value_mobile_evening_buyers'
                except select person_id from {PROD_TABLE}
                where segment_key = 'high_value_mobile_evening_buyers'
                order by person_id limit 2"""
        ).fetchall()
    ]
    con.close()
    samples = moved["high_value_mobile_evening_buyers"]["entering_samples"]
    assert [s["person_id"] for s in samples] == first_entering

    # production is untouched; only the chain from the custom segments model to
    # segment_memberships (and the graph readers) was rebuilt
    assert _fingerprint(db, PROD_TABLE) == before
    manifest = json.loads((state / "manifest.json").read_text())
    chain = _descendants(manifest, _custom_segments_model(manifest)) & _ancestors(
        manifest, MEMBERSHIPS
    )
    graph = {f"model.audiences.{name}" for name in models_reading_graph(manifest)}
    assert MEMBERSHIPS in chain
    assert set(report["models_built"]) == {u for u in chain if u.startswith("model.")} | graph
    text = summary.read_text()
    entering, leaving = expected["win_back_desktop_shoppers"]
    assert entering == 0  # a narrower window only removes members
    key = "win_back_desktop_shoppers"
    sizes = f"{sizes_before[key]} | {sizes_after[key]}"
    assert f"| `{key}` | custom | changed | {sizes} | 0 | -{leaving} |" in text
    assert "@" not in text  # ids only, never an email


def test_changed_var_is_detected(production: tuple[Path, Path], tmp_path: Path) -> None:
    db, state = production
    project = _pull_request(
        tmp_path,
        {"dbt_project.yml": [("high_value_top_share: 0.10", "high_value_top_share: 0.20")]},
    )
    result = _diff(db, project, "--state", str(state), "--json", "--samples", "0")
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert report["changed_vars"] == ["high_value_top_share"]
    expected = _expected_moves(db)
    assert expected["high_value"][0] > 0
    moved = {
        s["segment_key"]: (s["entering"], s["leaving"])
        for s in report["segments"]
        if s["status"] != "unchanged"
    }
    assert moved == expected
    assert all(not s["entering_samples"] for s in report["segments"])
    # custom segments come from production, never from a copy an earlier diff left in the
    # pull-request schemas (the rename in test_custom_segment_thresholds)
    keys = {s["segment_key"] for s in report["segments"]}
    assert "email_responsive_browsers" in keys
    assert "email_first_purchase_prospects" not in keys


def test_equivalent_rule_reports_no_difference(
    production: tuple[Path, Path], tmp_path: Path
) -> None:
    db, state = production
    project = _pull_request(
        tmp_path,
        {
            "segments/custom_segments.yml": [
                (
                    '{column: orders_lifetime, op: ">=", value: 3}',
                    '{column: orders_lifetime, op: ">", value: 2}',  # whole numbers: the same
                )
            ]
        },
    )
    summary = tmp_path / "summary.md"
    result = _diff(db, project, "--state", str(state), "--json", "--markdown", str(summary))
    assert result.exit_code == 0, result.output + result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "no_difference"
    assert MEMBERSHIPS in report["models_built"]
    assert _expected_moves(db) == {}
    assert {s["status"] for s in report["segments"]} == {"unchanged"}
    assert len(report["segments"]) == len(_sizes(db, PROD_TABLE))
    assert "no segment gains or loses a member" in summary.read_text()


def test_failed_build_exits_1(production: tuple[Path, Path], tmp_path: Path) -> None:
    db, state = production
    project = _pull_request(
        tmp_path,
        {
            "segments/custom_segments.yml": [
                ("{column: revenue_lifetime, op:", "{column: no_such_column, op:")
            ]
        },
    )
    result = _diff(db, project, "--state", str(state))
    assert result.exit_code == 1
    assert "dbt build of the pull request's segments failed" in result.stderr
    assert "no_such_column" in result.stderr  # dbt's own message, passed through


def test_missing_state_artefacts_exit_2(production: tuple[Path, Path], tmp_path: Path) -> None:
    db, _ = production
    empty = tmp_path / "empty-state"
    empty.mkdir()
    result = _diff(db, REPO, "--state", str(empty))
    assert result.exit_code == 2
    assert f"{empty / 'manifest.json'} not found" in result.stderr

    result = _diff(db, REPO)
    assert result.exit_code == 2
    assert "Missing option '--state'" in result.stderr


def test_pr_schema_equal_to_production_is_refused(
    production: tuple[Path, Path], tmp_path: Path
) -> None:
    db, state = production
    result = _diff(db, REPO, "--state", str(state), "--pr-schema", "analytics")
    assert result.exit_code == 2
    assert "would overwrite production" in result.stderr


def test_var_readers_and_changed_vars(production: tuple[Path, Path], tmp_path: Path) -> None:
    _, state = production
    manifest = json.loads((state / "manifest.json").read_text())
    # through a macro (is_holdout) and directly in SQL
    assert models_reading_vars(manifest, ["holdout_percent"]) == ["segment_memberships"]
    assert models_reading_vars(manifest, ["session_inactivity_seconds"]) == [
        "int_tracker__page_views",
        "int_tracker__sessionized_events",
    ]
    # segment_definitions lists the custom segments from the graph; it is no ancestor of
    # segment_memberships, so it is rebuilt beside it
    assert models_reading_graph(manifest) == ["segment_definitions"]
    before, after = tmp_path / "before.yml", tmp_path / "after.yml"
    before.write_text("vars:\n  a: 1\n  b: [x]\n  audiences:\n    c: 0.1\n")
    after.write_text("vars:\n  a: 1\n  b: [x, y]\n  audiences:\n    c: 0.2\n  d: true\n")
    assert changed_vars(before, after, "audiences") == ["b", "c", "d"]
