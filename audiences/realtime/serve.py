"""`audiences serve`: the real-time HTTP API under uvicorn (docs/realtime.md)."""

from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import Callable
from typing import Any

import click

from audiences.realtime.events import EventVocabularyError
from audiences.realtime.settings import RealtimeSettings, RealtimeSettingsError


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--log-level",
    default="info",
    show_default=True,
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Server processes (they share the rate limits through Redis).",
)
def serve(host: str, port: int, log_level: str, workers: int) -> None:
    """Serve the real-time API: POST /v1/events, GET /v1/profiles/{id}/segments, /healthz,
    /audiences.js and /demo.

    Settings come from the environment (AUDIENCES_REDIS_URL, AUDIENCES_SERVER_KEYS,
    AUDIENCES_PUBLISHABLE_KEYS, ...; docs/realtime.md).
    """
    import uvicorn

    from audiences.realtime.api import create_app

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = RealtimeSettings.from_env()
        app = create_app(settings)
    except (RealtimeSettingsError, EventVocabularyError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"audiences serve: http://{host}:{port} (demo page: http://{host}:{port}/demo)")
    if workers == 1:
        _settle_memory()
        uvicorn.run(app, host=host, port=port, log_level=log_level, **SERVER_OPTIONS)
        return
    # several processes: each builds its app from the environment (checked above)
    uvicorn.run(
        "audiences.realtime.serve:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level=log_level,
        **SERVER_OPTIONS,
        **_worker_options(uvicorn.run),
    )


def _worker_options(run: Callable[..., Any]) -> dict[str, Any]:
    """A worker process imports the whole CLI before it can answer the supervisor's health
    check: on a busy machine that takes longer than uvicorn's default 5 s, and the
    supervisor would kill and respawn it again and again. 30 s, where uvicorn has the
    setting."""
    if "timeout_worker_healthcheck" in inspect.signature(run).parameters:
        return {"timeout_worker_healthcheck": 30}
    return {}


def _http_protocol() -> Any:
    """httptools with each response in one write (audiences/realtime/http_protocol.py), or
    uvicorn's choice when httptools is missing."""
    try:
        from audiences.realtime.http_protocol import BatchedHttpToolsProtocol
    except ImportError:  # pragma: no cover - httptools is a dependency
        return "auto"
    return BatchedHttpToolsProtocol


#: uvicorn as the lookups need it (docs/realtime.md, "Performance"): the uvloop event loop
#: when installed ("auto" falls back to asyncio), httptools with one write per response,
#: no access log line per request, no Server header
SERVER_OPTIONS: dict[str, Any] = {
    "loop": "auto",
    "http": _http_protocol(),
    "access_log": False,
    "server_header": False,
}


def _settle_memory() -> None:
    """Moves everything start-up allocated (modules, settings, the app) out of the garbage
    collector's sight: a collection then walks only what requests allocate, so the rare full
    collection is short instead of a pause in the tail latency."""
    gc.collect()
    gc.freeze()


def app_from_env() -> Any:
    """The app of one worker process of `audiences serve --workers N`."""
    from audiences.realtime.api import create_app

    app = create_app(RealtimeSettings.from_env())
    _settle_memory()
    return app
