"""The tables of the raw source contract (docs/contracts/foundation-models.md), by name."""

from __future__ import annotations

import duckdb

RAW_TABLES = ("events", "orders", "order_items", "customers", "email_events")
#: optional tables of the raw contract (macros/raw_contract/optional_raw_tables.sql): a
#: warehouse may not have them
OPTIONAL_RAW_TABLES = ("survey_responses",)


def present_raw_tables(con: duckdb.DuckDBPyConnection, schema: str) -> tuple[str, ...]:
    """RAW_TABLES, then the optional raw tables the DuckDB schema has."""
    have = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema = ?", [schema]
        ).fetchall()
    }
    return RAW_TABLES + tuple(t for t in OPTIONAL_RAW_TABLES if t in have)
