"""`audiences serve`: the real-time HTTP API under uvicorn (docs/realtime.md)."""

from __future__ import annotations

import logging

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
def serve(host: str, port: int, log_level: str) -> None:
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
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
