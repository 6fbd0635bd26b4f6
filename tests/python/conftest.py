"""Fixtures shared by the whole pytest suite."""

from __future__ import annotations

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
