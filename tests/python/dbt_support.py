"""Helpers for tests that build the dbt project on a throw-away DuckDB warehouse."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import duckdb

from audiences.generator.writer import TABLES as RAW_TABLES

PROJECT_DIR = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
# The raw source contract's columns and types, as the demo data generator writes them.
RAW_DDL = {
    table: ", ".join(f"{name} {data_type}" for name, data_type in columns)
    for table, columns in RAW_TABLES.items()
}


@dataclass(frozen=True)
class DbtResult:
    returncode: int
    output: str


@dataclass(frozen=True)
class RunningDbt:
    """A dbt command started by `start_dbt_command`, its output going to a temporary file."""

    args: tuple[str, ...]
    process: subprocess.Popen
    output: IO[str]


#: the seeds the session models read for local time (a test that builds sessions from raw
#: data seeds these, `dbt seed --select *LOCAL_TIME_SEEDS`)
LOCAL_TIME_SEEDS = ("geo_time_zones", "time_zone_offsets")

#: `dbt build` of seeds and models only (no snapshots, data tests or unit tests): what a
#: `dbt seed` followed by a `dbt run` builds, for one dbt start-up and parse instead of two
#: (`run_dbt(*BUILD_SEEDS_AND_MODELS, "--select", *LOCAL_TIME_SEEDS, "+fct_sessions", ...)`)
BUILD_SEEDS_AND_MODELS = ("build", "--resource-type", "seed", "--resource-type", "model")


def create_raw_tables(path: Path, overrides: dict[str, str] | None = None) -> None:
    """Creates the five raw tables, empty, with the source contract's column types."""
    ddl = {**RAW_DDL, **(overrides or {})}
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists raw")
        for table, columns in ddl.items():
            con.execute(f"create or replace table raw.{table} ({columns})")
    finally:
        con.close()


def start_dbt_command(
    *args: str, db: Path, work_dir: Path, env: dict[str, str] | None = None
) -> RunningDbt:
    """Starts `dbt <args>` on the project against the DuckDB file `db` without waiting for it
    (two builds on two engines can run side by side); finish it with `wait_dbt_command`.
    `env` adds to or overrides the environment (e.g. the PostgreSQL connection)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        **(env or {}),
    }
    # the output goes to a file, not a pipe: a process whose pipe nobody reads while the
    # other one is waited for would block once the pipe is full
    # (closed by wait_dbt_command, hence no `with`)
    output = tempfile.TemporaryFile(mode="w+", dir=work_dir)  # noqa: SIM115
    process = subprocess.Popen(
        [
            DBT,
            *args,
            "--target-path",
            str(work_dir / f"target-{db.stem}"),
            "--log-path",
            str(work_dir / "logs"),
        ],
        cwd=PROJECT_DIR,
        env=full_env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )
    return RunningDbt(args, process, output)


def wait_dbt_command(running: RunningDbt, check: bool = True) -> DbtResult:
    """Waits for a dbt command from `start_dbt_command`; raises when it failed and `check`."""
    returncode = running.process.wait()
    running.output.seek(0)
    result = DbtResult(returncode, running.output.read())
    running.output.close()
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(running.args)} failed:\n{result.output[-4000:]}")
    return result


def run_dbt_command(
    *args: str,
    db: Path,
    work_dir: Path,
    check: bool = True,
    env: dict[str, str] | None = None,
) -> DbtResult:
    """Runs `dbt <args>` on the project against the DuckDB file `db`."""
    return wait_dbt_command(
        start_dbt_command(*args, db=db, work_dir=work_dir, env=env), check=check
    )


def write_dbt_artifacts(target: Path, models: dict[str, str]) -> None:
    """A manifest with the models (name -> schema) and run results saying they all built:
    what the sync engine's gate reads, for tests that create the tables themselves."""
    target.mkdir(parents=True, exist_ok=True)
    nodes = {
        f"model.audiences.{name}": {
            "resource_type": "model",
            "name": name,
            "alias": name,
            "schema": schema,
            "database": "warehouse",
            "unique_id": f"model.audiences.{name}",
            "package_name": "audiences",
        }
        for name, schema in models.items()
    }
    (target / "manifest.json").write_text(
        json.dumps({"metadata": {"project_name": "audiences"}, "nodes": nodes, "unit_tests": {}})
    )
    (target / "run_results.json").write_text(
        json.dumps(
            {"results": [{"unique_id": u, "status": "success", "message": "OK"} for u in nodes]}
        )
    )
