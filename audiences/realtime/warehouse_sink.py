"""Where the warehouse loader writes: ``raw.events`` plus its watermark, in one transaction.

A sink opens one connection per micro-batch and closes it at once (DuckDB allows one
writing process per file: between two loads `dbt build` can open it). Inside one
transaction it reads the watermark (the last stream entry id loaded for the stream and the
consumer group), inserts the rows and moves the watermark; a crash before the commit leaves
neither, a crash after it leaves both (audiences/realtime/loader.py).
"""

from __future__ import annotations

import fcntl
import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb
import psycopg2
import psycopg2.extras
import pyarrow as pa

from audiences.generator.writer import TABLES as RAW_TABLES

#: the columns of raw.events the stream carries: the raw contract's, typed as the generator
#: writes the raw table (one definition), without the optional columns the tracker API does
#: not take
_NOT_ON_STREAM = frozenset({"search_term", "scroll_depth_percent"})
EVENT_COLUMNS: tuple[tuple[str, str], ...] = tuple(
    (name, kind) for name, kind in RAW_TABLES["events"] if name not in _NOT_ON_STREAM
)
COLUMN_NAMES = tuple(c for c, _ in EVENT_COLUMNS)
_ARROW_TYPES = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "TIMESTAMP": pa.timestamp("us")}

#: the loader's own table (one row per stream and consumer group)
WATERMARK_SCHEMA = "audiences_loader"
WATERMARK_TABLE = "watermarks"

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WarehouseBusyError(Exception):
    """Another process holds the warehouse (DuckDB's one-writer rule); try again later."""


class WarehouseUnavailableError(Exception):
    """The warehouse cannot be reached or written (message says what to fix)."""


class LoaderAlreadyRunningError(Exception):
    """Another loader loads the same stream and group into the same warehouse: two at once
    would break the watermark's order (audiences/realtime/loader.py)."""


_ALREADY = (
    "another `audiences load-stream` already loads {stream} (group {group}) into {where}; "
    "run one loader per stream and warehouse"
)


@dataclass(frozen=True)
class EntryId:
    """A stream entry id (``<ms>-<seq>``), ordered as the stream orders them."""

    ms: int
    seq: int

    @classmethod
    def parse(cls, text: str) -> EntryId:
        ms, _, seq = text.partition("-")
        return cls(int(ms), int(seq or 0))

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    def __lt__(self, other: EntryId) -> bool:
        return (self.ms, self.seq) < (other.ms, other.seq)

    def __le__(self, other: EntryId) -> bool:
        return (self.ms, self.seq) <= (other.ms, other.seq)


class LoadTransaction(Protocol):
    def watermark(self) -> EntryId | None:
        """The last entry id loaded for this stream and group (None: nothing yet)."""
        ...

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert rows of raw.events (values in :data:`COLUMN_NAMES` order)."""
        ...

    def set_watermark(self, entry_id: EntryId, loaded: int) -> None:
        """Move the watermark to ``entry_id`` (``loaded`` rows added in this batch)."""
        ...


class Sink(Protocol):
    name: str

    def transaction(self, stream: str, group: str) -> Any:
        """A context manager yielding a :class:`LoadTransaction`: commit on exit, rollback
        on an exception."""
        ...

    def exclusive(self, stream: str, group: str) -> Any:
        """A context manager held while a loader runs: a second loader of the same stream
        and group into the same warehouse raises :class:`LoaderAlreadyRunningError`. The
        lock dies with its process (a SIGKILLed loader never blocks its restart)."""
        ...


def _lock_name(stream: str, group: str, schema: str) -> str:
    return f"audiences_loader|{stream}|{group}|{schema}"


def _check_ident(schema: str) -> str:
    if not _IDENT.match(schema):
        raise ValueError(f"schema {schema!r} is not a plain identifier")
    return schema


class _SqlTransaction:
    """Statements shared by both sinks (``%s`` placeholders are adapted per driver)."""

    def __init__(
        self,
        execute: Callable[[str, Sequence[Any]], list[tuple[Any, ...]]],
        insert_rows: Callable[[Sequence[tuple[Any, ...]]], None],
        stream: str,
        group: str,
    ):
        self._execute = execute
        self._insert_rows = insert_rows
        self.stream = stream
        self.group = group

    def watermark(self) -> EntryId | None:
        rows = self._execute(
            f"SELECT last_entry_id FROM {WATERMARK_SCHEMA}.{WATERMARK_TABLE} "
            "WHERE stream = %s AND group_name = %s",
            (self.stream, self.group),
        )
        return EntryId.parse(rows[0][0]) if rows else None

    def insert(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if rows:
            self._insert_rows(rows)

    def set_watermark(self, entry_id: EntryId, loaded: int) -> None:
        table = f"{WATERMARK_SCHEMA}.{WATERMARK_TABLE}"
        self._execute(
            f"DELETE FROM {table} WHERE stream = %s AND group_name = %s", (self.stream, self.group)
        )
        self._execute(
            f"INSERT INTO {table} (stream, group_name, last_entry_id, rows_loaded, updated_at) "
            "VALUES (%s, %s, %s, %s, %s)",
            (self.stream, self.group, str(entry_id), loaded, datetime.now().astimezone()),
        )


def _ddl(schema: str, types: dict[str, str]) -> list[str]:
    cols = ", ".join(f"{c} {types[t]}" for c, t in EVENT_COLUMNS)
    return [
        f"CREATE SCHEMA IF NOT EXISTS {schema}",
        f"CREATE TABLE IF NOT EXISTS {schema}.events ({cols})",
        f"CREATE SCHEMA IF NOT EXISTS {WATERMARK_SCHEMA}",
        f"CREATE TABLE IF NOT EXISTS {WATERMARK_SCHEMA}.{WATERMARK_TABLE} ("
        f"stream {types['VARCHAR']} NOT NULL, group_name {types['VARCHAR']} NOT NULL, "
        f"last_entry_id {types['VARCHAR']} NOT NULL, rows_loaded BIGINT NOT NULL, "
        f"updated_at {types['TIMESTAMPTZ']} NOT NULL, PRIMARY KEY (stream, group_name))",
    ]


class DuckDBSink:
    """raw.events in a DuckDB file, opened per batch and closed at once."""

    name = "duckdb"

    def __init__(self, path: Path, schema: str = "raw"):
        self.path = path
        self.schema = _check_ident(schema)

    @contextmanager
    def exclusive(self, stream: str, group: str) -> Iterator[None]:
        # a lock file beside the DuckDB file; flock is released when the process dies
        digest = hashlib.sha1(_lock_name(stream, group, self.schema).encode()).hexdigest()[:12]
        lock_path = self.path.with_name(f".{self.path.name}.loader-{digest}.lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise LoaderAlreadyRunningError(
                    _ALREADY.format(stream=stream, group=group, where=self.path)
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        try:
            return duckdb.connect(str(self.path))
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                holder = re.search(r"PID (\d+)", text)
                who = f"process {holder.group(1)}" if holder else "another process"
                raise WarehouseBusyError(
                    f"the DuckDB file {self.path} is in use by {who} (a `dbt build`?); DuckDB "
                    "allows one writing process per file"
                ) from None
            raise WarehouseUnavailableError(
                f"cannot open the DuckDB file {self.path}: {text}"
            ) from None

    @contextmanager
    def transaction(self, stream: str, group: str) -> Iterator[LoadTransaction]:
        con = self._connect()
        try:
            types = {k: k for k in ("VARCHAR", "INTEGER", "TIMESTAMP", "TIMESTAMPTZ")}
            for stmt in _ddl(self.schema, types):
                con.execute(stmt)
            con.execute("BEGIN TRANSACTION")

            def execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                return con.execute(sql.replace("%s", "?"), list(params)).fetchall()

            def insert_rows(rows: Sequence[tuple[Any, ...]]) -> None:
                columns = list(zip(*rows, strict=True))
                batch = pa.table(
                    {
                        name: pa.array(list(values), type=_ARROW_TYPES[kind])
                        for (name, kind), values in zip(EVENT_COLUMNS, columns, strict=True)
                    }
                )
                con.register("__loader_batch", batch)
                names = ", ".join(COLUMN_NAMES)
                con.execute(
                    f"INSERT INTO {self.schema}.events ({names}) SELECT {names} FROM __loader_batch"
                )
                con.unregister("__loader_batch")

            try:
                yield _SqlTransaction(execute, insert_rows, stream, group)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()


class PostgresSink:
    """raw.events in PostgreSQL (``AUDIENCES_PG_DSN``), one connection per batch."""

    name = "postgres"

    def __init__(self, dsn: str, schema: str = "raw"):
        self.dsn = dsn
        self.schema = _check_ident(schema)

    def _connect(self) -> psycopg2.extensions.connection:
        try:
            return psycopg2.connect(self.dsn)
        except psycopg2.OperationalError as exc:
            # the message names host, port and database, never the password
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreachable"
            raise WarehouseUnavailableError(
                f"cannot connect to PostgreSQL (AUDIENCES_PG_DSN): {first}. Start it with "
                "scripts/postgres_up.sh or fix AUDIENCES_PG_DSN"
            ) from None

    @contextmanager
    def exclusive(self, stream: str, group: str) -> Iterator[None]:
        # a session advisory lock, on a connection held while the loader runs: released
        # by the server when the connection (or the process) dies
        con = self._connect()
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s))",
                    (_lock_name(stream, group, self.schema),),
                )
                row = cur.fetchone()
            if not row or not row[0]:
                raise LoaderAlreadyRunningError(
                    _ALREADY.format(stream=stream, group=group, where=f"PostgreSQL {self.schema}")
                )
            yield
        finally:
            con.close()

    @contextmanager
    def transaction(self, stream: str, group: str) -> Iterator[LoadTransaction]:
        con = self._connect()
        try:
            types = {
                "VARCHAR": "text",
                "INTEGER": "integer",
                "TIMESTAMP": "timestamp",
                "TIMESTAMPTZ": "timestamptz",
            }
            with con.cursor() as cur:
                # two loaders creating the tables at once must not fail: serialise the DDL
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('audiences_loader_ddl'))")
                for stmt in _ddl(self.schema, types):
                    cur.execute(stmt)
            con.commit()

            def execute(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
                with con.cursor() as cur:
                    cur.execute(sql, tuple(params))
                    return list(cur.fetchall()) if cur.description else []

            def insert_rows(rows: Sequence[tuple[Any, ...]]) -> None:
                with con.cursor() as cur:
                    psycopg2.extras.execute_values(
                        cur,
                        f"INSERT INTO {self.schema}.events ({', '.join(COLUMN_NAMES)}) VALUES %s",
                        list(rows),
                        page_size=1000,
                    )

            try:
                # the watermark row is locked for the whole transaction
                execute(
                    f"SELECT 1 FROM {WATERMARK_SCHEMA}.{WATERMARK_TABLE} "
                    "WHERE stream = %s AND group_name = %s FOR UPDATE",
                    (stream, group),
                )
                yield _SqlTransaction(execute, insert_rows, stream, group)
            except BaseException:
                con.rollback()
                raise
            con.commit()
        finally:
            con.close()
