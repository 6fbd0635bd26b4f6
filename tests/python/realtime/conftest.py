"""A real Redis server for the real-time tests, started by the project's own script.

Each test gets its own key prefix, so tests never see each other's keys and the server is
shared (started once per session by scripts/redis_up.sh). The tests have a server of their own,
on port 6381 with its own data directory, so that neither a developer's data nor a
benchmark's (which can take minutes to load) is ever in their way;
AUDIENCES_TEST_REDIS_URL points them at another server instead."""

from __future__ import annotations

import contextlib
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from audiences.realtime.keys import RedisKeys

ROOT = Path(__file__).resolve().parents[3]


TEST_REDIS_PORT = 6381


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("AUDIENCES_TEST_REDIS_URL")
    if url:
        return url
    started = subprocess.run(
        ["bash", str(ROOT / "scripts" / "redis_up.sh")],
        env={**os.environ, "REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(TEST_REDIS_PORT)},
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        pytest.fail(
            "scripts/redis_up.sh could not start the tests' Redis server "
            f"(exit {started.returncode}):\n{started.stdout}{started.stderr}",
            pytrace=False,
        )
    return f"redis://127.0.0.1:{TEST_REDIS_PORT}/15"


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def keys(redis_client: redis.Redis) -> Iterator[RedisKeys]:
    """A fresh key prefix for one test; its keys are deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield RedisKeys(prefix)
    names = list(redis_client.scan_iter(match=f"{prefix}*", count=1000))
    if names:
        redis_client.delete(*names)


# --- the HTTP API (audiences serve) over loopback --------------------------------------------


@pytest.fixture
def make_api(redis_url: str, keys: RedisKeys):
    """Start the API on a free 127.0.0.1 port with this test's key prefix; returns its base
    URL. Keyword arguments override settings; ``clock`` fixes the server's clock; ``sock``
    is a listening socket to serve on (to know the server's origin before it starts)."""
    from realtime_http import (
        OTHER_SERVER_KEY,
        PUBLISHABLE_KEY,
        PUBLISHABLE_ORIGIN,
        SERVER_KEY,
        serving,
    )

    from audiences.realtime.api import create_app
    from audiences.realtime.settings import RealtimeSettings

    stack = contextlib.ExitStack()

    def start(clock=None, sock=None, **overrides) -> str:
        values = {
            "redis_url": redis_url,
            "redis_prefix": keys.prefix,
            "server_keys": f"{SERVER_KEY},{OTHER_SERVER_KEY}",
            "publishable_keys": f"{PUBLISHABLE_KEY}@{PUBLISHABLE_ORIGIN}",
            **overrides,
        }
        app = create_app(RealtimeSettings(**values), clock=clock)
        return stack.enter_context(serving(app, sock))

    with stack:
        yield start


@pytest.fixture
def api(make_api) -> str:
    """The API with default settings; its base URL."""
    return make_api()
