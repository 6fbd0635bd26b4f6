"""`audiences realtime-demo`: the real-time path end to end, as `make demo` shows it.

It starts `audiences serve` on 127.0.0.1 (keys made up for the demo, the server key never
printed), posts the events of a new visitor over HTTP, runs the streaming evaluator once after
each step (`audiences stream --once`) and prints the visitor's segments as the API answers
them: before, and after four views of the same product move the visitor into
`viewed_product_3x_24h`. It ends with the URL of the demo page, on which `audiences.js` shows
the call to action of that segment. The server keeps running for that page unless
``--stop``; the command prints how to stop it.

Needs Redis (`bash scripts/redis_up.sh`) and a warm cache (the sync `realtime_profiles`, which
`audiences sandbox demo` runs), as the API answers 503 on a cold cache.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import click

HOST = "127.0.0.1"
SEGMENT = "viewed_product_3x_24h"


def _free_port(preferred: int) -> int:
    with socket.socket() as s:
        if s.connect_ex((HOST, preferred)) != 0:
            return preferred
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _call(
    url: str, key: str, body: dict[str, Any] | None = None, origin: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST" if body is not None else "GET")
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if origin:
        req.add_header("Origin", origin)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _event(anon: str, minutes_ago: float, **fields: Any) -> dict[str, Any]:
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=minutes_ago)
    return {
        "event_id": f"demo-{uuid.uuid4().hex}",
        "anonymous_id": anon,
        "occurred_at": at.isoformat(timespec="seconds"),
        "device_type": "desktop",
        "country": "US",
        **fields,
    }


def _evaluate() -> None:
    """One pass of the streaming evaluator over what the stream holds."""
    subprocess.run(
        [sys.executable, "-m", "audiences.cli", "stream", "--once"],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _wait_until_up(base: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(150):
        if proc.poll() is not None:
            raise click.ClickException("audiences serve stopped at start (see its output above)")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except urllib.error.HTTPError:
            return  # it answers (503 = cold cache: reported by the lookup below)
        except OSError:
            time.sleep(0.1)
    raise click.ClickException(f"audiences serve does not answer on {base}")


def _visitor_not_held_out() -> str:
    """A new visitor id outside the segment's holdout (docs/decisions/0004): a held-out
    visitor enters the segment but is never shown it, which is right, but not a demo."""
    from pathlib import Path

    from audiences.realtime.evaluator.evaluate import is_holdout
    from audiences.realtime.evaluator.rules import load_rules

    rules = load_rules(Path.cwd())
    while True:
        anon = f"demo-visitor-{uuid.uuid4().hex[:8]}"
        if not is_holdout(anon, SEGMENT, rules.holdout_percent, rules.global_holdout_percent):
            return anon


@click.command("realtime-demo")
@click.option("--port", default=8080, show_default=True, help="Port of `audiences serve`.")
@click.option("--stop", is_flag=True, help="Stop the server at the end (no demo page then).")
def realtime_demo(port: int, stop: bool) -> None:
    """Show the real-time path: events in, a segment entered, the answer served to a page."""
    port = _free_port(port)
    base = f"http://{HOST}:{port}"
    server_key = f"sk_demo_{secrets.token_urlsafe(16)}"
    publishable = f"pk_demo_{secrets.token_urlsafe(8)}"
    env = {
        **os.environ,
        "AUDIENCES_SERVER_KEYS": server_key,
        "AUDIENCES_PUBLISHABLE_KEYS": f"{publishable}@{base}",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "audiences.cli",
            "serve",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        start_new_session=True,
    )
    try:
        _wait_until_up(base, proc)
        anon = _visitor_not_held_out()
        lookup = f"{base}/v1/profiles/{anon}/segments"
        click.echo(f"real-time demo: audiences serve on {base}, visitor {anon}")

        status, answer = _call(
            f"{base}/v1/events",
            server_key,
            {"events": [_event(anon, 20, event_type="page_view", page_type="home", page_url="/")]},
        )
        click.echo(f"  POST /v1/events (1 home page view) -> {status} {answer}")
        _evaluate()
        status, answer = _call(lookup, server_key)
        click.echo(f"  before: GET /v1/profiles/{anon}/segments -> {status} {answer}")
        if status == 503:
            raise click.ClickException(
                "the segment cache is cold: run `audiences sync realtime_profiles` (or "
                "`audiences sandbox demo`) after `dbt build` first"
            )

        views = [
            _event(
                anon,
                10 - i,
                event_type="page_view",
                page_type="product",
                page_url="/products/p-0042",
                product_id="p-0042",
                product_category="shoes",
            )
            for i in range(4)
        ]
        status, answer = _call(f"{base}/v1/events", server_key, {"events": views})
        click.echo(f"  POST /v1/events (4 views of product p-0042) -> {status} {answer}")
        _evaluate()
        status, answer = _call(lookup, publishable, origin=base)
        click.echo(f"  after:  GET /v1/profiles/{anon}/segments (browser key) -> {status} {answer}")
        if SEGMENT not in answer.get("segments", []):
            raise click.ClickException(f"the visitor did not enter {SEGMENT}: {answer}")
        click.echo(f"  demo page (shows the {SEGMENT} call to action): {base}/demo?anon={anon}")
    except BaseException:
        proc.terminate()
        raise
    if stop:
        proc.terminate()
        proc.wait(timeout=10)
        click.echo("  server stopped (--stop)")
    else:
        click.echo(f"  the server keeps running for that page: stop it with `kill {proc.pid}`")
