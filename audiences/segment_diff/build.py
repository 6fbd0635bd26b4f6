"""Runs the pull request's `dbt build`, deferring to production, into schemas of its own.

Isolation: dbt's default `generate_schema_name` prefixes every custom schema with the
target's schema, which profiles.yml reads from AUDIENCES_SCHEMA. The build runs with
AUDIENCES_SCHEMA set to the pull-request schema (default `<production schema>_pr`), so every
model it builds lands in `<pr schema>_<custom schema>` and never in a production schema.
Snapshots keep a fixed `target_schema`, so they are excluded (the selection, the ancestors of
segment_memberships, holds none anyway).

`--favor-state`: every model that is not selected is read from production, even when an
earlier diff left a copy of it in the pull-request schemas (plain `--defer` would prefer
that stale copy).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click

from audiences.segment_diff.errors import DiffBuildError, DiffUsageError
from audiences.segment_diff.manifest import MEMBERSHIPS_MODEL


@dataclass(frozen=True)
class BuildRequest:
    project_dir: Path
    state_dir: Path
    target: str
    target_path: Path
    pr_schema: str
    selection: list[str]
    dbt_vars: str


@dataclass(frozen=True)
class BuildOutcome:
    built_memberships: bool
    nodes_built: list[str]


def dbt_executable() -> str:
    """The dbt beside this Python (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if found is None:
        raise DiffUsageError("dbt is not installed: run `make setup` first.")
    return found


def dbt_command(request: BuildRequest) -> list[str]:
    return [
        dbt_executable(),
        "build",
        "--select",
        *request.selection,
        "--exclude",
        "resource_type:snapshot",
        "--defer",
        "--favor-state",
        "--state",
        str(request.state_dir),
        "--target",
        request.target,
        "--target-path",
        str(request.target_path),
        "--log-path",
        str(request.target_path / "logs"),
        "--vars",
        request.dbt_vars,
    ]


def run_build(request: BuildRequest) -> BuildOutcome:
    """Runs dbt (its output goes to stderr, line by line) and reads its run_results.json."""
    results_file = request.target_path / "run_results.json"
    results_file.unlink(missing_ok=True)
    env = {
        **os.environ,
        "AUDIENCES_SCHEMA": request.pr_schema,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.setdefault("DBT_PROFILES_DIR", str(request.project_dir))
    with subprocess.Popen(
        dbt_command(request),
        cwd=request.project_dir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            click.echo(line.rstrip("\n"), err=True)
    if process.returncode != 0:
        raise DiffBuildError(
            f"dbt build of the pull request's segments failed (exit {process.returncode}); "
            f"see the dbt output above and {request.target_path / 'logs' / 'dbt.log'}."
        )
    if not results_file.is_file():
        raise DiffBuildError(f"dbt build wrote no {results_file}.")
    results = json.loads(results_file.read_text()).get("results", [])
    built = [r["unique_id"] for r in results if r.get("unique_id", "").startswith("model.")]
    memberships = any(uid.split(".")[-1] == MEMBERSHIPS_MODEL for uid in built)
    return BuildOutcome(memberships, sorted(built))
