"""Fixtures shared by the whole pytest suite."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest
from dbt_support import DbtResult, run_dbt_command

DbtRunner = Callable[..., DbtResult]


@pytest.fixture
def run_dbt(tmp_path: Path) -> DbtRunner:
    """Runs a dbt command on the project against the DuckDB file given as `db=`."""
    return partial(run_dbt_command, work_dir=tmp_path)


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of a headless Chromium (Debian `chromium`), installed when missing by
    scripts/chromium_up.sh, which prints it last."""
    done = subprocess.run(
        ["bash", str(Path(__file__).resolve().parents[2] / "scripts" / "chromium_up.sh")],
        check=True,
        capture_output=True,
        text=True,
        timeout=900,
    )
    return done.stdout.strip().splitlines()[-1]
