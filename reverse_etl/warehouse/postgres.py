"""PostgreSQL implementation."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg2

from reverse_etl import settings
from reverse_etl.core.errors import WarehouseError
from reverse_etl.settings import redact
from reverse_etl.warehouse.base import Row, Warehouse

_cursor_ids = itertools.count()


def _pg(sql: str, params: Sequence[Any]) -> tuple[str, list[Any] | None]:
    """Translate ``?`` placeholders; psycopg2 only interprets ``%`` when given parameters."""
    if not params:
        return sql, None
    return sql.replace("%", "%%").replace("?", "%s"), list(params)


class PostgresWarehouse(Warehouse):
    dialect = "postgres"

    def __init__(self, dsn: str):
        self.dsn = dsn
        try:
            self.con = psycopg2.connect(dsn)
        except psycopg2.Error as exc:
            raise WarehouseError(f"cannot connect to PostgreSQL: {redact(str(exc))}") from None
        self._in_tx = False
        self._reader = None

    @classmethod
    def from_env(cls, dsn: str | None = None) -> PostgresWarehouse:
        # libpq reads PGHOST / PGUSER / PGPASSWORD / PGDATABASE itself when the DSN is empty.
        return cls(dsn or settings.load().pg_dsn.get_secret_value())

    def _run(self, sql: str, params: Sequence[Any], fetch: bool) -> list[Row]:
        try:
            with self.con.cursor() as cur:
                cur.execute(*_pg(sql, params))
                rows = cur.fetchall() if fetch else []
            if not self._in_tx:
                self.con.commit()
            return rows
        except psycopg2.Error as exc:
            if not self._in_tx:
                self.con.rollback()
            raise WarehouseError(f"PostgreSQL query failed: {redact(str(exc)).strip()}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params, fetch=False)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self._run(sql, params, fetch=True)

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[list[Row]]:
        # A second connection with a server-side (named) cursor in a REPEATABLE READ
        # transaction: one snapshot, fetched batch by batch.
        try:
            reader = psycopg2.connect(self.dsn)
        except psycopg2.Error as exc:
            raise WarehouseError(f"cannot connect to PostgreSQL: {redact(str(exc))}") from None
        try:
            reader.set_session(isolation_level="REPEATABLE READ", readonly=True)
            cur = reader.cursor(name=f"reverse_etl_{os.getpid()}_{next(_cursor_ids)}")
            cur.itersize = batch_size
            cur.execute(*_pg(sql, params))
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    break
                yield rows
            cur.close()
            reader.commit()
        except psycopg2.Error as exc:
            raise WarehouseError(f"PostgreSQL query failed: {redact(str(exc)).strip()}") from exc
        finally:
            reader.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_tx:
            yield
            return
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._in_tx = False
            self.con.rollback()
            raise
        self._in_tx = False
        try:
            self.con.commit()
        except psycopg2.Error as exc:
            raise WarehouseError(f"PostgreSQL commit failed: {redact(str(exc))}") from exc

    def lock(self, name: str) -> bool:
        rows = self.query("SELECT pg_try_advisory_lock(hashtext(?))", (f"reverse_etl:{name}",))
        return bool(rows[0][0])

    def iso_timestamp(self, expr: str, with_tz: bool) -> str:
        if with_tz:
            expr = f"({expr} AT TIME ZONE 'UTC')"
        return f'to_char({expr}, \'YYYY-MM-DD"T"HH24:MI:SS"Z"\')'

    def close(self) -> None:
        self.con.close()
