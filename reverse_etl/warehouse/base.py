"""The warehouse interface the engine uses. SQL is written with ``?`` placeholders."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

Row = tuple[Any, ...]


def type_family(data_type: str) -> str:
    """Map an engine type name to text / integer / float / decimal / boolean / date /
    timestamp / timestamptz / other."""
    t = data_type.lower()
    if "with time zone" in t or t in ("timestamptz",):
        return "timestamptz"
    if t.startswith("timestamp") or t == "datetime":
        return "timestamp"
    if t == "date":
        return "date"
    if t in ("boolean", "bool"):
        return "boolean"
    if t.startswith(("decimal", "numeric")):
        return "decimal"
    if t in ("double", "double precision", "real", "float", "float4", "float8"):
        return "float"
    if t in (
        "integer",
        "int",
        "bigint",
        "smallint",
        "tinyint",
        "hugeint",
        "int4",
        "int8",
        "int2",
        "ubigint",
        "uinteger",
        "usmallint",
        "utinyint",
    ):
        return "integer"
    if t.startswith(("varchar", "character varying", "text", "char", "string")):
        return "text"
    return "other"


class Warehouse(abc.ABC):
    """One connection for writes (autocommit outside :meth:`transaction`), plus
    :meth:`stream` which reads a consistent snapshot in batches on its own cursor."""

    dialect: str = "?"

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    @abc.abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    @abc.abstractmethod
    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[list[Row]]:
        """Yield lists of at most ``batch_size`` rows; never the whole result at once."""

    @abc.abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def lock(self, name: str) -> bool:
        """Take a session lock so two runs of one sync never overlap. True if taken."""
        return True

    # --- dialect helpers -------------------------------------------------------------
    @staticmethod
    def quote(name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    @staticmethod
    def literal(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def columns(self, schema: str, table: str) -> dict[str, str]:
        rows = self.query(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            (schema, table),
        )
        return {str(r[0]).lower(): str(r[1]) for r in rows}

    def to_text(self, expr: str, data_type: str) -> str:
        """SQL turning ``expr`` into the text a destination receives (NULL stays NULL)."""
        fam = type_family(data_type)
        if fam == "boolean":
            return f"CASE WHEN {expr} THEN 'true' WHEN NOT {expr} THEN 'false' END"
        if fam in ("timestamp", "timestamptz"):
            return self.iso_timestamp(expr, fam == "timestamptz")
        return f"CAST({expr} AS TEXT)"

    @abc.abstractmethod
    def iso_timestamp(self, expr: str, with_tz: bool) -> str: ...

    def md5(self, expr: str) -> str:
        return f"md5({expr})"

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        conflict: Sequence[str] | None = None,
        update: Sequence[str] = (),
    ) -> None:
        """Multi-row INSERT (one statement), optionally ``ON CONFLICT ... DO UPDATE``."""
        if not rows:
            return
        ncol = len(columns)
        values = ", ".join(["(" + ", ".join(["?"] * ncol) + ")"] * len(rows))
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"
        if conflict:
            if update:
                sets = ", ".join(f"{c} = excluded.{c}" for c in update)
                sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
            else:
                sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        params = [v for row in rows for v in row]
        self.execute(sql, params)
