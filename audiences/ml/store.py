"""Reading columns from the warehouse and writing the step's tables into its `ml` schema,
through the project's warehouse layer (DuckDB or PostgreSQL): the same SQL on both."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from audiences.ml.errors import MissingTableError
from reverse_etl.core.errors import WarehouseError
from reverse_etl.warehouse.base import Warehouse
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

#: column types of the tables the step writes, portable between DuckDB and PostgreSQL
TYPES = {
    "text": "text",
    "double": "double precision",
    "bigint": "bigint",
    "timestamp": "timestamp",
    "boolean": "boolean",
}
INSERT_CHUNK = 5000


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # a key of TYPES


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def require_tables(wh: Warehouse, schema: str, tables: Sequence[str]) -> None:
    """Raise MissingTableError naming the first table that is not there."""
    for table in tables:
        if not wh.columns(schema, table):
            raise MissingTableError(
                f"table {schema}.{table} not found: run `dbt build` (with the same "
                "as_of) before `audiences ml`"
            )


def fetch(wh: Warehouse, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    rows: list[tuple[Any, ...]] = []
    for batch in wh.stream(sql, params, batch_size=50000):
        rows.extend(batch)
    return rows


def fetch_columns(wh: Warehouse, sql: str, params: Sequence[Any], names: Sequence[str]) -> pa.Table:
    """The result of ``sql`` as an Arrow table with columns ``names`` (one per selected
    column): DuckDB hands over its columns directly, other engines are read in batches."""
    if isinstance(wh, DuckDBWarehouse):
        cursor = wh.con.cursor()
        try:
            relation = cursor.sql(sql, params=list(params))
            table = (
                relation.to_arrow_table()
                if hasattr(relation, "to_arrow_table")
                else relation.arrow()
            )
        except duckdb.Error as exc:
            raise WarehouseError(f"DuckDB query failed: {exc}") from exc
        finally:
            cursor.close()
        return table.rename_columns(list(names))
    columns: list[list[Any]] = [[] for _ in names]
    for batch in wh.stream(sql, params, batch_size=50000):
        for values, column in zip(zip(*batch, strict=True), columns, strict=True):
            column.extend(values)
    return pa.table({name: pa.array(values) for name, values in zip(names, columns, strict=True)})


def replace_table(
    wh: Warehouse, schema: str, spec: TableSpec, rows: Sequence[Sequence[Any]]
) -> None:
    """Drop and re-create ``schema.spec.name`` with ``rows``, in one transaction."""
    target = f"{wh.quote(schema)}.{wh.quote(spec.name)}"
    ddl = ", ".join(f"{wh.quote(c.name)} {TYPES[c.type]}" for c in spec.columns)
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {wh.quote(schema)}")
    with wh.transaction():
        wh.execute(f"DROP TABLE IF EXISTS {target}")
        wh.execute(f"CREATE TABLE {target} ({ddl})")
        insert(wh, target, spec, rows)


def replace_table_columns(
    wh: Warehouse, schema: str, spec: TableSpec, columns: dict[str, Any]
) -> None:
    """:func:`replace_table` from columns (lists, numpy or Arrow arrays, one per spec column):
    DuckDB loads them as one Arrow table, other engines row by row in chunks."""
    target = f"{wh.quote(schema)}.{wh.quote(spec.name)}"
    ddl = ", ".join(f"{wh.quote(c.name)} {TYPES[c.type]}" for c in spec.columns)
    names = spec.column_names
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {wh.quote(schema)}")
    with wh.transaction():
        wh.execute(f"DROP TABLE IF EXISTS {target}")
        wh.execute(f"CREATE TABLE {target} ({ddl})")
        if isinstance(wh, DuckDBWarehouse):
            data = pa.table({n: _arrow(columns[n]) for n in names})
            view = f"_ml_rows_{id(data)}"
            wh.con.register(view, data)
            try:
                wh.execute(
                    f"INSERT INTO {target} SELECT {', '.join(wh.quote(n) for n in names)} "
                    f"FROM {view}"
                )
            finally:
                wh.con.unregister(view)
        else:
            lists = [_plain(columns[n]) for n in names]
            insert(wh, target, spec, list(zip(*lists, strict=True)))


def _arrow(values: Any) -> pa.Array:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values
    if isinstance(values, np.ndarray) and values.dtype != object:
        return pa.array(values)
    return pa.array(list(values))


def _plain(values: Any) -> list[Any]:
    if isinstance(values, pa.Array | pa.ChunkedArray):
        return values.to_pylist()
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


def append_rows(
    wh: Warehouse,
    schema: str,
    spec: TableSpec,
    rows: Sequence[Sequence[Any]],
    replace_where: tuple[str, Any],
    model: str | None = None,
) -> None:
    """Create ``schema.spec.name`` if needed, delete the rows where ``replace_where`` holds
    (column, value), and ``model`` matches when given, then append ``rows``: a history table
    with one entry per build."""
    target = f"{wh.quote(schema)}.{wh.quote(spec.name)}"
    ddl = ", ".join(f"{wh.quote(c.name)} {TYPES[c.type]}" for c in spec.columns)
    wh.execute(f"CREATE SCHEMA IF NOT EXISTS {wh.quote(schema)}")
    wh.execute(f"CREATE TABLE IF NOT EXISTS {target} ({ddl})")
    column, value = replace_where
    with wh.transaction():
        if model is None:
            wh.execute(f"DELETE FROM {target} WHERE {wh.quote(column)} = ?", (value,))
        else:
            wh.execute(
                f"DELETE FROM {target} WHERE {wh.quote(column)} = ? AND model = ?",
                (value, model),
            )
        insert(wh, target, spec, rows)


def insert(wh: Warehouse, target: str, spec: TableSpec, rows: Sequence[Sequence[Any]]) -> None:
    columns = [wh.quote(c) for c in spec.column_names]
    for start in range(0, len(rows), INSERT_CHUNK):
        wh.insert_rows(target, columns, rows[start : start + INSERT_CHUNK])
