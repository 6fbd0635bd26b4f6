"""`audiences stream`: run the streaming evaluator."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import click
import redis

from audiences.realtime.evaluator.config import redis_settings
from audiences.realtime.evaluator.device_cache import (
    DEFAULT_DEVICES,
    DeviceCache,
    EvaluatorReplaced,
)
from audiences.realtime.evaluator.engine import Evaluator, utc_now
from audiences.realtime.evaluator.rules import DEFAULT_MAX_WINDOW_SECONDS, RuleError, load_rules
from audiences.realtime.keys import RedisKeys
from audiences.realtime.stream import RedisEventStream


@click.command("stream")
@click.option("--once", is_flag=True, help="Drain the stream (pending entries first), then stop.")
@click.option(
    "--batch-size",
    default=2000,
    show_default=True,
    help="Most entries per batch (fewer when the stream holds fewer; a backlog is worked off "
    "in big batches).",
)
@click.option("--block-ms", default=1000, show_default=True, help="How long a read waits.")
@click.option(
    "--max-window",
    default=DEFAULT_MAX_WINDOW_SECONDS // 86400,
    show_default=True,
    help="Longest window (days) a streamable rule may use; also caps the state kept.",
)
@click.option(
    "--state-cache",
    default=DEFAULT_DEVICES,
    show_default=True,
    type=click.IntRange(min=0),
    help="Device states kept in memory between batches (0: read every state from Redis).",
)
@click.option("--consumer", default=None, help="Consumer name in the group (default: host).")
@click.option(
    "--as-of",
    default=None,
    help="Evaluate at this fixed instant (ISO, UTC) instead of the wall clock (replays, tests).",
)
@click.option(
    "--project-dir",
    default=".",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The dbt project whose segments/custom_segments.yml and dbt_project.yml are read.",
)
def stream_command(
    once: bool,
    batch_size: int,
    block_ms: int,
    max_window: int,
    state_cache: int,
    consumer: str | None,
    as_of: str | None,
    project_dir: Path,
) -> None:
    """Consume the event stream and keep streamable segment memberships live in Redis."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        rules = load_rules(project_dir, max_window_s=max_window * 86400)
    except RuleError as exc:
        raise click.ClickException(str(exc)) from exc
    clock = utc_now
    if as_of:
        try:
            fixed = datetime.fromisoformat(as_of)
        except ValueError as exc:
            raise click.BadParameter(
                f"not an ISO timestamp: {as_of}", param_hint="--as-of"
            ) from exc
        clock = lambda: fixed  # noqa: E731
    settings = redis_settings()
    client = redis.Redis.from_url(settings.url, decode_responses=True)
    keys = RedisKeys(settings.prefix)
    evaluator = Evaluator(
        client,
        keys,
        RedisEventStream(client, keys),
        rules,
        clock=clock,
        consumer=consumer,
        cache=DeviceCache(state_cache),
    )
    for segment in rules.segments:
        state = "streamable" if segment.streamable else f"batch-only ({segment.reason})"
        click.echo(f"{segment.name}: {state}")
    try:
        total = evaluator.run(
            once=once,
            count=batch_size,
            block_ms=block_ms,
            give_up_after_s=30.0 if once else None,
        )
    except redis.ConnectionError as exc:
        raise click.ClickException(f"cannot reach Redis at {settings.url}: {exc}") from exc
    except EvaluatorReplaced as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"processed {total} stream entries")
