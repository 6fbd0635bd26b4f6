"""DuckDB implementation (the embedded default)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import duckdb

from reverse_etl import settings
from reverse_etl.core.errors import WarehouseError
from reverse_etl.warehouse.base import Row, Warehouse

#: The sync's DuckDB memory cap (not dbt's: profiles.yml reads AUDIENCES_DUCKDB_MEMORY_LIMIT).
#: Beyond it DuckDB spills the diff's joins to disk, so the sync's memory stays flat however
#: many rows the model has (benchmarks/bench_sync.py).
SYNC_MEMORY_ENV = "AUDIENCES_SYNC_MEMORY_LIMIT"
#: DuckDB checkpoints once its write-ahead log holds this much (its default: 16MB). Data not
#: yet checkpointed stays in memory: at 256MB (the value before issue 12) the state written by
#: a 1M-row sync held the sync at ~490 MB RSS, at 32MB it peaks at ~390 MB and takes no
#: longer on DuckDB 2.0. A Meta sync, whose state rows carry the hashed row, spends less CPU
#: at 64MB (fewer checkpoints of that large state) with the same peak (decision 0018, "Second
#: round").
CHECKPOINT_THRESHOLD = "64MB"


def _failure(what: str, exc: duckdb.Error) -> WarehouseError:
    """A WarehouseError for a failed statement; out-of-memory failures say what to raise."""
    text = str(exc)
    if isinstance(exc, duckdb.OutOfMemoryException) or "could not allocate" in text:
        cap = settings.load().sync_memory_limit
        text += (
            f" -- the sync's DuckDB memory cap ({SYNC_MEMORY_ENV}={cap}) is too small for this "
            "model: raise it (e.g. 1GB) and run the sync again"
        )
    return WarehouseError(f"{what}: {text}")


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"

    def __init__(self, path: str, memory_limit: str | None = None, threads: int | None = None):
        self.path = path
        config: dict[str, Any] = {}
        if memory_limit:
            config["memory_limit"] = memory_limit
        if threads:
            config["threads"] = threads
        try:
            self.con = duckdb.connect(path, config=config)
            # No progress bar: it would be printed into `--json` output on long queries.
            self.con.execute("SET enable_progress_bar = false")
            # (see CHECKPOINT_THRESHOLD)
            self.con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
        except duckdb.Error as exc:
            raise WarehouseError(f"cannot open DuckDB file {path}: {exc}") from None
        self._in_tx = False

    @classmethod
    def from_env(cls, path: str | None = None, **kwargs: Any) -> DuckDBWarehouse:
        s = settings.load()
        path = path or s.duckdb_path
        kwargs.setdefault("memory_limit", s.sync_memory_limit)
        return cls(path, **kwargs)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self.con.execute(sql, list(params))
        except duckdb.Error as exc:
            raise _failure("DuckDB query failed", exc) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        try:
            return self.con.execute(sql, list(params)).fetchall()
        except duckdb.Error as exc:
            raise _failure("DuckDB query failed", exc) from exc

    def stream(
        self, sql: str, params: Sequence[Any] = (), batch_size: int = 1000
    ) -> Iterator[list[Row]]:
        # A duplicate connection has its own transaction: it reads one snapshot while the
        # main connection keeps committing state.
        cur = self.con.cursor()
        try:
            cur.execute(sql, list(params))
            while True:
                rows = cur.fetchmany(batch_size)
                if not rows:
                    break
                yield rows
        except duckdb.Error as exc:
            raise _failure("DuckDB query failed", exc) from exc
        finally:
            cur.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._in_tx:
            yield
            return
        self.con.execute("BEGIN TRANSACTION")
        self._in_tx = True
        try:
            yield
        except BaseException:
            self._in_tx = False
            self.con.execute("ROLLBACK")
            raise
        self._in_tx = False
        try:
            self.con.execute("COMMIT")
        except duckdb.Error as exc:
            raise _failure("DuckDB commit failed", exc) from exc

    def insert_rows(
        self,
        table: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[Any]],
        conflict: Sequence[str] | None = None,
        update: Sequence[str] = (),
    ) -> None:
        """Bulk path through Arrow: binding hundreds of parameters is slow in DuckDB."""
        if len(rows) < 8:
            return super().insert_rows(table, columns, rows, conflict, update)
        try:
            import pyarrow as pa
        except ImportError:  # pragma: no cover - pyarrow is a dependency
            return super().insert_rows(table, columns, rows, conflict, update)
        data = pa.table({f"c{i}": [r[i] for r in rows] for i in range(len(columns))})
        name = f"_reverse_etl_rows_{id(data)}"
        sql = (
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(f'c{i}' for i in range(len(columns)))} FROM {name}"
        )
        if conflict:
            if update:
                sets = ", ".join(f"{c} = excluded.{c}" for c in update)
                sql += f" ON CONFLICT ({', '.join(conflict)}) DO UPDATE SET {sets}"
            else:
                sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
        self.con.register(name, data)
        try:
            self.execute(sql)
        finally:
            self.con.unregister(name)

    def iso_timestamp(self, expr: str, with_tz: bool) -> str:
        if with_tz:
            expr = f"timezone('UTC', {expr})"
        return f"strftime({expr}, '%Y-%m-%dT%H:%M:%SZ')"

    def close(self) -> None:
        self.con.close()
