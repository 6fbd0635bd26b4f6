"""`audiences load-stream`: run the warehouse loader (audiences/realtime/loader.py)."""

from __future__ import annotations

import os
import signal
from types import FrameType
from urllib.parse import urlsplit

import click
import redis

from audiences.realtime.keys import DEFAULT_PREFIX, RedisKeys
from audiences.realtime.loader import Loader, LoaderError
from audiences.realtime.stream import RedisEventStream
from audiences.realtime.warehouse_sink import (
    DuckDBSink,
    LoaderAlreadyRunningError,
    PostgresSink,
    Sink,
    WarehouseUnavailableError,
)
from audiences.warehouse_path import duckdb_path

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _where(url: str) -> str:
    """host:port/db of a Redis URL, without user or password (for messages)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}{parts.path or ''}"


def _sink(target: str, schema: str) -> Sink:
    if target == "duckdb":
        return DuckDBSink(duckdb_path(), schema)
    dsn = os.environ.get("AUDIENCES_PG_DSN", "")
    if not dsn:
        raise click.ClickException(
            "--target postgres needs AUDIENCES_PG_DSN (e.g. 'host=127.0.0.1 port=5432 "
            "user=audiences dbname=audiences'; the Makefile derives it from PGDATABASE)"
        )
    return PostgresSink(dsn, schema)


@click.command("load-stream")
@click.option(
    "--target",
    type=click.Choice(["duckdb", "postgres"]),
    default=lambda: os.environ.get("AUDIENCES_TARGET", "duckdb"),
    show_default="$AUDIENCES_TARGET or duckdb",
    help="Warehouse: the DuckDB file of AUDIENCES_DUCKDB_PATH, or PostgreSQL (AUDIENCES_PG_DSN).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.01),
    default=10.0,
    show_default=True,
    help="Seconds between two micro-batches.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=5000,
    show_default=True,
    help="A micro-batch is loaded as soon as this many events wait.",
)
@click.option("--once", is_flag=True, help="Load everything the stream holds, then stop.")
@click.option("--schema", default="raw", show_default=True, help="Schema of the events table.")
@click.option(
    "--consumer",
    default="loader-1",
    show_default=True,
    help="Consumer name in the group `loader` (keep it across restarts).",
)
@click.option(
    "--busy-timeout",
    type=click.FloatRange(min=0),
    default=None,
    help="Give up after this many seconds while another process holds the DuckDB "
    "file (default: wait forever; with --once: 120).",
)
def load_stream(
    target: str,
    interval: float,
    batch_size: int,
    once: bool,
    schema: str,
    consumer: str,
    busy_timeout: float | None,
) -> None:
    """Load the event stream into raw.events, exactly once, in micro-batches.

    Run one loader per warehouse beside `audiences serve`; between two micro-batches the
    DuckDB file is closed, so `dbt build` can run. Stop it with Ctrl-C or SIGTERM: the
    current batch finishes, anything not loaded stays pending for the next start.
    """
    url = os.environ.get("AUDIENCES_REDIS_URL") or DEFAULT_REDIS_URL
    prefix = os.environ.get("AUDIENCES_REDIS_PREFIX") or DEFAULT_PREFIX
    keys = RedisKeys(prefix)
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        sink = _sink(target, schema)
        loader = Loader(
            RedisEventStream(client, keys),
            sink,
            keys.events,
            consumer=consumer,
            batch_size=batch_size,
            interval=interval,
            busy_timeout=busy_timeout if busy_timeout is not None else (120.0 if once else None),
            echo=click.echo,
        )

        def stop(_signum: int, _frame: FrameType | None) -> None:
            loader.stopping = True

        signal.signal(signal.SIGTERM, stop)
        where = sink.path if isinstance(sink, DuckDBSink) else "PostgreSQL"
        click.echo(f"loading {keys.events} at {_where(url)} into {where} ({schema}.events)")
        try:
            stats = loader.run(once=once)
        except KeyboardInterrupt:
            stats = loader.stats
        dead = keys.dead_letters(loader.group)
        click.echo(
            f"done: {stats.inserted} events loaded in {stats.batches} "
            + ("batch" if stats.batches == 1 else "batches")
            + (f", {stats.skipped} already loaded before a restart" if stats.skipped else "")
            + (
                f", {stats.dead_lettered} unusable entries kept in {dead}"
                if stats.dead_lettered
                else ""
            )
        )
    except redis.RedisError as exc:
        raise click.ClickException(
            f"the event stream at {_where(url)} is unreachable ({type(exc).__name__}); start "
            "Redis (bash scripts/redis_up.sh) or fix AUDIENCES_REDIS_URL. Nothing was lost: "
            "entries not loaded stay pending"
        ) from None
    except (
        LoaderError,
        LoaderAlreadyRunningError,
        WarehouseUnavailableError,
        ValueError,
    ) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        client.close()
