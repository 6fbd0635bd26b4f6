"""Custom segments (segments/custom_segments.yml) that cannot compile fail `dbt compile`
with a message naming the file and the segment."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
PROJECT = Path(os.environ.get("AUDIENCES_PROJECT_DIR", REPO))
SEGMENTS_FILE = "segments/custom_segments.yml"
COPIED = ["models", "macros", "seeds", "snapshots", "segments", "tests", "dbt_packages"]

pytestmark = pytest.mark.skipif(
    not (PROJECT / "dbt_packages" / "dbt_utils").exists(),
    reason="dbt packages not installed (scripts/install_dbt_packages.sh)",
)


def _dbt() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the project, so the real segments file is never touched."""
    root = tmp_path_factory.mktemp("project")
    for name in COPIED:
        source = PROJECT / name
        if source.exists():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("python"))
    for name in ["dbt_project.yml", "profiles.yml", "packages.yml"]:
        if (PROJECT / name).exists():
            shutil.copy(PROJECT / name, root / name)
    return root


def _compile_with_segment(project: Path, segment: dict) -> subprocess.CompletedProcess[str]:
    path = project / SEGMENTS_FILE
    document = yaml.safe_load((PROJECT / SEGMENTS_FILE).read_text())
    model = document["models"][0]
    model["config"]["meta"]["custom_segments"] = [segment]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "AUDIENCES_DUCKDB_PATH": str(project / "compile.duckdb"),
        "AUDIENCES_TARGET": "duckdb",
    }
    return subprocess.run(
        [
            _dbt(),
            "compile",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(project / "target"),
            "--select",
            "custom_segments",
            "--vars",
            "{check_raw_contract: false, as_of: '2026-11-01T00:00:00'}",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=project,
        timeout=300,
    )


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"column": "no_such_column", "op": "=", "value": 1}, "unknown column 'no_such_column'"),
        ({"column": "orders_lifetime", "op": "~", "value": 1}, "unknown operator '~'"),
        ({"column": "orders_lifetime", "op": ">=", "value": "three"}, "type mismatch"),
        (
            {"all": [{"column": "has_email_consent", "op": "=", "value": "yes"}]},
            "type mismatch",
        ),
    ],
    ids=["unknown-column", "unknown-operator", "number-vs-text", "boolean-vs-text"],
)
def test_bad_rule_names_file_and_segment(project: Path, rule: dict, expected: str) -> None:
    segment = {"name": "broken_segment", "description": "A rule that cannot compile.", "rule": rule}
    result = _compile_with_segment(project, segment)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Custom segment 'broken_segment'" in output, output
    assert SEGMENTS_FILE in output, output
    assert expected in output, output


def test_valid_rule_compiles(project: Path) -> None:
    segment = {
        "name": "mobile_spenders",
        "description": "Mobile people with revenue.",
        "rule": {
            "all": [
                {"column": "primary_device_type", "op": "in", "value": ["mobile", "tablet"]},
                {"column": "revenue_lifetime", "op": "between", "value": [10, 1000]},
                {"not": {"column": "last_order_at", "op": "is null"}},
                {"column": "first_seen_at", "op": ">=", "value": "2026-01-01"},
            ]
        },
    }
    result = _compile_with_segment(project, segment)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "'mobile_spenders' as segment_key" in result.stdout + result.stderr or (
        "mobile_spenders"
        in (
            project / "target/compiled/audiences/models/marts/segments/custom_segments.sql"
        ).read_text()
    )
