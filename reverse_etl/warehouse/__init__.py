"""Warehouse access through one small interface (DuckDB and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from reverse_etl.core.errors import ConfigError
from reverse_etl.warehouse.base import Warehouse


def connect(target: str = "duckdb", **kwargs: Any) -> Warehouse:
    """Open the warehouse named by ``target`` (``duckdb`` or ``postgres``) from the environment."""
    if target == "duckdb":
        from reverse_etl.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse.from_env(**kwargs)
    if target == "postgres":
        from reverse_etl.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse.from_env(**kwargs)
    raise ConfigError(f"unknown warehouse target {target!r}; use 'duckdb' or 'postgres'")


__all__ = ["Warehouse", "connect"]
