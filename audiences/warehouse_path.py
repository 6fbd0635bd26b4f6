"""Where the embedded DuckDB warehouse lives."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DUCKDB_PATH = "audiences.duckdb"


def duckdb_path() -> Path:
    """The DuckDB file named by AUDIENCES_DUCKDB_PATH (default: audiences.duckdb)."""
    return Path(os.environ.get("AUDIENCES_DUCKDB_PATH", DEFAULT_DUCKDB_PATH))
