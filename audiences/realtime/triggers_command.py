"""`audiences triggers`: run the trigger forwarder (audiences/realtime/triggers.py)."""

from __future__ import annotations

import logging
import os
import signal
from types import FrameType
from urllib.parse import urlsplit

import click
import redis

from audiences.realtime.changes import RedisChangeStream
from audiences.realtime.keys import DEFAULT_PREFIX, RedisKeys
from audiences.realtime.triggers import TriggerForwarder, TriggersError
from reverse_etl import settings
from reverse_etl.config import load_project
from reverse_etl.core.errors import ReverseEtlError
from reverse_etl.engine import CrashHook

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def _where(url: str) -> str:
    """host:port/db of a Redis URL, without user or password (for messages)."""
    parts = urlsplit(url)
    return f"{parts.hostname or '?'}:{parts.port or 6379}{parts.path or ''}"


@click.command("triggers")
@click.option(
    "--config",
    "config_path",
    default="syncs.yml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="The syncs file whose `triggers:` list says what to send where.",
)
@click.option(
    "--trigger",
    "names",
    multiple=True,
    help="Only this trigger (repeatable; default: every trigger of the file).",
)
@click.option("--once", is_flag=True, help="Send every change the stream holds, then stop.")
@click.option(
    "--from-start",
    is_flag=True,
    help="On the very first start (no consumer group yet), also send the changes the stream "
    "already holds; by default triggers start from now.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=500,
    show_default=True,
    help="Stream entries read and enqueued at a time.",
)
@click.option(
    "--lock-ttl",
    type=click.FloatRange(min=0.5),
    default=30.0,
    show_default=True,
    help="Seconds the forwarder's lock outlives a killed process (a restart waits at most "
    "this long).",
)
def triggers_command(
    config_path: str,
    names: tuple[str, ...],
    once: bool,
    from_start: bool,
    batch_size: int,
    lock_ttl: float,
) -> None:
    """Send segment entries and exits from the streaming evaluator to Braze or a webhook.

    Reads the changes stream (consumer group `triggers`), puts each change in the outbox of
    every trigger it matches, and delivers it exactly once (docs/realtime.md, "Triggers").
    Run one per Redis prefix beside `audiences stream`. Stop it with Ctrl-C or SIGTERM.
    """
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    url = os.environ.get("AUDIENCES_REDIS_URL") or DEFAULT_REDIS_URL
    prefix = os.environ.get("AUDIENCES_REDIS_PREFIX") or DEFAULT_PREFIX
    keys = RedisKeys(prefix)
    client = redis.Redis.from_url(url, decode_responses=True)
    try:
        project = load_project(config_path)
        triggers = project.select_triggers(list(names))
        forwarder = TriggerForwarder(
            client,
            keys,
            RedisChangeStream(client, keys),
            triggers,
            crash=CrashHook(settings.load().test_crash_at),
            batch_size=batch_size,
            lock_ttl=lock_ttl,
        )

        def stop(_signum: int, _frame: FrameType | None) -> None:
            forwarder.stopping = True

        signal.signal(signal.SIGTERM, stop)
        click.echo(
            f"forwarding {keys.changes} at {_where(url)} to "
            + ", ".join(f"{t.name} ({t.destination})" for t in triggers)
        )
        try:
            stats = forwarder.run_once(from_start) if once else forwarder.run_forever(from_start)
        except KeyboardInterrupt:
            stats = forwarder.stats
        for name, c in forwarder.counts().items():
            click.echo(
                f"trigger {name}: {c.get('sent', 0)} sent, {c.get('rejected', 0)} rejected, "
                f"{c.get('unknown', 0)} unknown, {c.get('pending', 0)} pending, "
                f"{c.get('skipped_anonymous', 0)} anonymous skipped (totals)"
            )
        if stats.malformed:
            click.echo(f"{stats.malformed} malformed stream entries skipped (see the log)")
        if stats.failures:
            raise click.ClickException(
                "; ".join(stats.failures) + ". The changes stay queued for the next run"
            )
    except redis.RedisError as exc:
        raise click.ClickException(
            f"the changes stream at {_where(url)} is unreachable ({type(exc).__name__}); start "
            "Redis (bash scripts/redis_up.sh) or fix AUDIENCES_REDIS_URL. Nothing was lost: "
            "changes not queued stay pending on the stream"
        ) from None
    except (TriggersError, ReverseEtlError) as exc:
        raise click.ClickException(settings.redact(str(exc))) from None
    finally:
        client.close()
