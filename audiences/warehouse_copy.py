"""Copy the raw schema from the DuckDB warehouse into PostgreSQL (`audiences load-postgres`).

The five raw tables of the source contract, and each optional one the DuckDB file has
(OPTIONAL_RAW_TABLES: survey_responses), are streamed, never held in memory whole:
DuckDB yields Arrow record batches, each batch is written as CSV and fed to one
PostgreSQL `COPY ... FROM STDIN` per table. DuckDB's own postgres extension would be
faster still, but it is downloaded on first use and so is not available offline.

The load is one transaction: no one sees a half-loaded table (queries on the raw tables
wait for the commit), and a failure leaves PostgreSQL as it was. A table whose columns
already match is truncated and refilled (so dbt's views over it survive); a table with
other columns is dropped with its dependent views (dbt recreates them on the next run) and
created again.

The Spark target has no COPY: `audiences load-spark` writes Parquet files and lets a dbt
operation create the tables (see copy_raw_to_spark).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import duckdb
import psycopg2
import psycopg2.extensions
import pyarrow as pa
import pyarrow.csv as pa_csv
from psycopg2 import sql

from audiences.raw_tables import OPTIONAL_RAW_TABLES, present_raw_tables
from audiences.warehouse_path import duckdb_path

BATCH_ROWS = 100_000

# DuckDB type (as information_schema.columns.data_type spells it) -> PostgreSQL type
_SCALAR_TYPES = {
    "VARCHAR": "text",
    "TEXT": "text",
    "STRING": "text",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "DATE": "date",
    "BOOLEAN": "boolean",
    "TINYINT": "smallint",
    "SMALLINT": "smallint",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "HUGEINT": "numeric(38,0)",
    "UTINYINT": "smallint",
    "USMALLINT": "integer",
    "UINTEGER": "bigint",
    "UBIGINT": "numeric(20,0)",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "UUID": "uuid",
}


_SPARK_TYPES = {
    "text": "string",
    "timestamp": "timestamp",
    "timestamptz": "timestamp",
    "date": "date",
    "boolean": "boolean",
    "smallint": "smallint",
    "integer": "int",
    "bigint": "bigint",
    "double precision": "double",
    "real": "float",
    "uuid": "string",
}


@dataclass(frozen=True)
class Column:
    name: str
    duckdb_type: str
    postgres_type: str


@dataclass(frozen=True)
class TableCopy:
    table: str
    rows: int
    seconds: float
    recreated: bool


def postgres_type(duckdb_type: str) -> str:
    """The PostgreSQL type holding the same values as the DuckDB type, e.g. DECIMAL(18,2)."""
    name = duckdb_type.strip().upper()
    if name.startswith("DECIMAL") or name.startswith("NUMERIC"):
        return (
            "numeric" + name[name.index("(") :].replace(" ", "").lower()
            if "(" in name
            else "numeric"
        )
    if name in _SCALAR_TYPES:
        return _SCALAR_TYPES[name]
    raise click.ClickException(
        f"raw column type {duckdb_type} has no PostgreSQL mapping; the source contract uses "
        "text, timestamp, date, boolean, integer and decimal"
    )


def spark_type(duckdb_type: str) -> str:
    """The Spark SQL type holding the same values as the DuckDB type."""
    pg = postgres_type(duckdb_type)
    if pg.startswith("numeric"):
        return "decimal" + pg[len("numeric") :] if "(" in pg else "decimal(38,9)"
    return _SPARK_TYPES[pg]


def postgres_dsn_from_env() -> dict[str, str]:
    """Connection settings from PGHOST/PGPORT/PGUSER/PGPASSWORD/PGDATABASE (project defaults)."""
    return {
        "host": os.environ.get("PGHOST", "127.0.0.1"),
        "port": os.environ.get("PGPORT", "5432"),
        "user": os.environ.get("PGUSER", "audiences"),
        "password": os.environ.get("PGPASSWORD", "audiences"),
        "dbname": os.environ.get("PGDATABASE", "audiences"),
    }


def duckdb_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[Column]:
    rows = con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = ? and table_name = ? order by ordinal_position",
        [schema, table],
    ).fetchall()
    if not rows:
        raise click.ClickException(
            f"the DuckDB warehouse has no table {schema}.{table} "
            "(run `audiences generate` or load your raw tables first)"
        )
    return [Column(name, dtype, postgres_type(dtype)) for name, dtype in rows]


def _postgres_columns(cur: psycopg2.extensions.cursor, schema: str, table: str) -> list[str]:
    cur.execute(
        "select a.attname, format_type(a.atttypid, a.atttypmod) "
        "from pg_attribute a join pg_class c on c.oid = a.attrelid "
        "join pg_namespace n on n.oid = c.relnamespace "
        "where n.nspname = %s and c.relname = %s and c.relkind in ('r', 'p') "
        "and a.attnum > 0 and not a.attisdropped order by a.attnum",
        (schema, table),
    )
    return [f"{name} {dtype}" for name, dtype in cur.fetchall()]


def _expected_signature(columns: list[Column]) -> list[str]:
    aliases = {
        "timestamp": "timestamp without time zone",
        "timestamptz": "timestamp with time zone",
    }
    return [f"{c.name} {aliases.get(c.postgres_type, c.postgres_type)}" for c in columns]


class _CsvStream(io.RawIOBase):
    """A read-only file over the CSV rendering of a stream of Arrow record batches.

    psycopg2's copy_expert pulls from it with read(size); only one batch's CSV is in memory.
    """

    def __init__(self, batches: Iterator[pa.RecordBatch]) -> None:
        self._batches = batches
        self._buffer = b""
        self._offset = 0
        self.rows = 0
        self._options = pa_csv.WriteOptions(include_header=False)

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> bool:
        for batch in self._batches:
            if batch.num_rows == 0:
                continue
            sink = io.BytesIO()
            pa_csv.write_csv(batch, sink, self._options)
            self._buffer = sink.getvalue()
            self._offset = 0
            self.rows += batch.num_rows
            return True
        return False

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._buffer) and not self._next_chunk():
            return b""
        if size is None or size < 0:
            size = len(self._buffer) - self._offset
        chunk = self._buffer[self._offset : self._offset + size]
        self._offset += len(chunk)
        return chunk

    def readinto(self, target: bytearray) -> int:  # type: ignore[override]
        chunk = self.read(len(target))
        target[: len(chunk)] = chunk
        return len(chunk)


def _arrow_batches(
    con: duckdb.DuckDBPyConnection, query: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    relation = con.sql(query)
    # duckdb >= 1.4 names it to_arrow_reader; older releases fetch_arrow_reader
    reader_factory = getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader
    yield from reader_factory(batch_rows)


def copy_raw_schema(
    duckdb_file: Path,
    dsn: dict[str, str] | None = None,
    source_schema: str = "raw",
    target_schema: str = "raw",
    tables: tuple[str, ...] | None = None,
    batch_rows: int = BATCH_ROWS,
    echo=None,
) -> list[TableCopy]:
    """Replaces `target_schema`'s raw tables in PostgreSQL with those of the DuckDB file.

    One transaction for all tables: either every table is replaced or none is. `tables`
    defaults to the raw tables the file has (present_raw_tables); an optional table the file
    lacks is dropped from the target.
    """
    if not duckdb_file.exists():
        raise click.ClickException(
            f"no DuckDB warehouse at {duckdb_file} (set AUDIENCES_DUCKDB_PATH, or run "
            "`audiences generate` first)"
        )
    settings = dsn or postgres_dsn_from_env()
    source = duckdb.connect(str(duckdb_file), read_only=True)
    try:
        if tables is None:
            tables = present_raw_tables(source, source_schema)
        absent_optional = [t for t in OPTIONAL_RAW_TABLES if t not in tables]
        plans = {table: duckdb_columns(source, source_schema, table) for table in tables}
        try:
            target = psycopg2.connect(**settings)
        except psycopg2.OperationalError as error:
            raise click.ClickException(
                f"cannot connect to PostgreSQL at {settings['host']}:{settings['port']} as "
                f"{settings['user']} (database {settings['dbname']}): {str(error).strip()}. "
                "Run scripts/postgres_up.sh (make postgres-up) or set PGHOST/PGPORT/PGUSER/"
                "PGPASSWORD/PGDATABASE."
            ) from error
        results: list[TableCopy] = []
        try:
            with target, target.cursor() as cur:
                cur.execute(
                    sql.SQL("create schema if not exists {}").format(sql.Identifier(target_schema))
                )
                for table in absent_optional:
                    # with its dependent dbt views: dbt recreates them (empty) on the next run
                    cur.execute(
                        sql.SQL("drop table if exists {} cascade").format(
                            sql.Identifier(target_schema, table)
                        )
                    )
                for table, columns in plans.items():
                    started = time.perf_counter()
                    name = sql.Identifier(target_schema, table)
                    existing = _postgres_columns(cur, target_schema, table)
                    recreate = existing != _expected_signature(columns)
                    if recreate:
                        if existing:
                            # other columns: dependent dbt views go too, dbt recreates them
                            cur.execute(sql.SQL("drop table {} cascade").format(name))
                        cur.execute(
                            sql.SQL("create table {} ({})").format(
                                name,
                                sql.SQL(", ").join(
                                    sql.SQL("{} {}").format(
                                        sql.Identifier(c.name), sql.SQL(c.postgres_type)
                                    )
                                    for c in columns
                                ),
                            )
                        )
                    else:
                        cur.execute(sql.SQL("truncate table {}").format(name))
                    column_list = ", ".join(f'"{c.name}"' for c in columns)
                    query = f'select {column_list} from "{source_schema}"."{table}"'
                    stream = _CsvStream(_arrow_batches(source, query, batch_rows))
                    copy = sql.SQL("copy {} ({}) from stdin with (format csv)").format(
                        name, sql.SQL(", ").join(sql.Identifier(c.name) for c in columns)
                    )
                    cur.copy_expert(copy.as_string(cur), stream, size=1 << 20)
                    cur.execute(sql.SQL("analyze {}").format(name))
                    result = TableCopy(table, stream.rows, time.perf_counter() - started, recreate)
                    results.append(result)
                    if echo:
                        echo(result)
        finally:
            target.close()
        return results
    finally:
        source.close()


@click.command("load-postgres")
@click.option(
    "--schema",
    "target_schema",
    default="raw",
    show_default=True,
    help="PostgreSQL schema to replace the raw tables in (the dbt var raw_schema).",
)
@click.option(
    "--source-schema",
    default="raw",
    show_default=True,
    help="Schema of the raw tables in the DuckDB file.",
)
def load_postgres(target_schema: str, source_schema: str) -> None:
    """Copy the raw tables from the DuckDB warehouse into PostgreSQL.

    Reads the DuckDB file named by AUDIENCES_DUCKDB_PATH and writes to the server named by
    PGHOST / PGPORT / PGUSER / PGPASSWORD / PGDATABASE (defaults 127.0.0.1, 5432,
    audiences, audiences, audiences). The tables are replaced in one transaction.
    """
    path = duckdb_path()
    settings = postgres_dsn_from_env()
    click.echo(
        f"copying {source_schema}.* from {path} to PostgreSQL "
        f"{settings['host']}:{settings['port']}/{settings['dbname']} schema {target_schema}"
    )
    started = time.perf_counter()

    def report(result: TableCopy) -> None:
        action = "created" if result.recreated else "replaced"
        click.echo(
            f"  {target_schema}.{result.table}: {result.rows:,} rows {action} "
            f"in {result.seconds:.1f} s"
        )

    results = copy_raw_schema(
        path, settings, source_schema=source_schema, target_schema=target_schema, echo=report
    )
    total = sum(r.rows for r in results)
    click.echo(
        f"committed {total:,} rows in {len(results)} tables in "
        f"{time.perf_counter() - started:.1f} s"
    )


#: where `audiences load-spark` lets dbt write its manifest (the Makefile's Spark target path)
SPARK_TARGET_PATH = "target-spark"


def spark_dir_from_env() -> Path:
    """Where the local Spark target keeps its metastore and files (AUDIENCES_SPARK_DIR)."""
    return Path(os.environ.get("AUDIENCES_SPARK_DIR", ".spark"))


def copy_raw_to_spark(
    duckdb_file: Path,
    spark_dir: Path,
    source_schema: str = "raw",
    target_schema: str = "raw",
    tables: tuple[str, ...] | None = None,
    project_dir: Path | None = None,
    dbt_args: tuple[str, ...] = (),
    dbt_target: str = "spark",
    target_path: str = SPARK_TARGET_PATH,
) -> dict[str, int]:
    """Replaces the raw tables of the local Spark target with those of the DuckDB file.

    DuckDB writes one Parquet file per table under `<spark_dir>/raw_files/`; the dbt
    operation `load_raw_files` (macros/cross_db/load_raw_files.sql) then creates the Spark
    tables from them through the `spark` profile, so the metastore is the one dbt uses.
    The operation writes its manifest to ``target_path`` (``target-spark``, where
    `make test-spark` builds), never to ``target/``: the sync reads models from
    ``target/manifest.json`` and a Spark manifest there breaks the next DuckDB sync.
    """
    if not duckdb_file.exists():
        raise click.ClickException(f"no DuckDB warehouse at {duckdb_file}")
    files = (spark_dir / "raw_files").resolve()
    files.mkdir(parents=True, exist_ok=True)
    source = duckdb.connect(str(duckdb_file), read_only=True)
    spec: dict[str, list[list[str]]] = {}
    rows: dict[str, int] = {}
    try:
        chosen = tables if tables is not None else present_raw_tables(source, source_schema)
        for table in chosen:
            columns = duckdb_columns(source, source_schema, table)
            spec[table] = [[c.name, spark_type(c.duckdb_type)] for c in columns]
            target = files / f"{table}.parquet"
            target.unlink(missing_ok=True)
            source.execute(
                f'copy (select * from "{source_schema}"."{table}") to \'{target}\' (format parquet)'
            )
            rows[table] = int(
                source.execute(f'select count(*) from "{source_schema}"."{table}"').fetchone()[0]
            )
    finally:
        source.close()
    args = json.dumps({"path": str(files), "tables": spec, "schema": target_schema})
    dbt = str(Path(sys.executable).with_name("dbt"))
    completed = subprocess.run(
        [
            dbt,
            "run-operation",
            "load_raw_files",
            "--target",
            dbt_target,
            "--target-path",
            target_path,
            "--args",
            args,
            *dbt_args,
        ],
        cwd=project_dir,
        check=False,
    )
    if completed.returncode != 0:
        raise click.ClickException(
            f"dbt run-operation load_raw_files failed on the {dbt_target} target"
        )
    return rows


@click.command("load-spark")
@click.option("--schema", "target_schema", default="raw", show_default=True)
@click.option("--source-schema", default="raw", show_default=True)
def load_spark(target_schema: str, source_schema: str) -> None:
    """Copy the raw tables from the DuckDB warehouse into the local Spark target.

    Run from the project root. Spark's metastore and files live under AUDIENCES_SPARK_DIR
    (default .spark); needs `pip install 'audiences[spark]'` and Java 17.
    """
    started = time.perf_counter()
    rows = copy_raw_to_spark(
        duckdb_path(),
        spark_dir_from_env(),
        source_schema=source_schema,
        target_schema=target_schema,
    )
    click.echo(
        f"loaded {sum(rows.values()):,} rows in {len(rows)} tables into Spark schema "
        f"{target_schema} in {time.perf_counter() - started:.1f} s"
    )
