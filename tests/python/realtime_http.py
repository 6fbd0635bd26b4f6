"""Helpers for the real-time API tests: the app under uvicorn on a free loopback port, in a
background thread of the test process (real HTTP, real Redis)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import uvicorn

from audiences.realtime.keys import RedisKeys

SERVER_KEY = "sk_test_9f2c4d1e8b7a"
OTHER_SERVER_KEY = "sk_test_other_51c0"
PUBLISHABLE_KEY = "pk_test_shop_3a7e"
PUBLISHABLE_ORIGIN = "https://shop.example.com"


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a port chosen by the OS, or the listening ``sock``); yield
    its base URL."""
    sock = sock or free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def iso(value: datetime) -> str:
    return value.astimezone(UTC).replace(tzinfo=None).isoformat()


def seed_batch(
    client: redis.Redis,
    keys: RedisKeys,
    loaded_at: datetime,
    people: dict[str, list[str]] | None = None,
    ids: dict[str, str] | None = None,
) -> None:
    """What the `redis` destination writes after a build: batch:meta, each person's segment
    set and the id -> person map."""
    client.hset(keys.batch_meta, mapping={"loaded_at": iso(loaded_at), "as_of": iso(loaded_at)})
    for person, segments in (people or {}).items():
        if segments:
            client.sadd(keys.batch_segments(person), *segments)
    for some_id, person in (ids or {}).items():
        client.set(keys.batch_person_of(some_id), person)


LONG_AGO = datetime(2000, 1, 1)


def seed_live(
    client: redis.Redis,
    keys: RedisKeys,
    streamable: list[str],
    people: dict[str, list[str]] | None = None,
    ids: dict[str, str] | None = None,
    updated_at: dict[str, datetime] | None = None,
) -> None:
    """What the streaming evaluator writes: rt:streamable, rt:seg, rt:person_of, updated_at.
    Every person in ``people`` was evaluated (as the evaluator always records): one without
    an ``updated_at`` of its own gets one long before any batch load, so the load's time
    stays the answer's ``updated_at``."""
    if streamable:
        client.sadd(keys.streamable, *streamable)
    for person, segments in (people or {}).items():
        if segments:
            client.sadd(keys.live_segments(person), *segments)
        if person not in (updated_at or {}):
            client.set(keys.live_updated_at(person), iso(LONG_AGO))
    for some_id, person in (ids or {}).items():
        client.set(keys.live_person_of(some_id), person)
    for person, at in (updated_at or {}).items():
        client.set(keys.live_updated_at(person), iso(at))


class PrivateRedis:
    """A redis-server of one test alone, on a free loopback port, which the test may stop and
    start again (the shared test Redis is never touched). ``options`` are extra
    redis-server arguments (e.g. ``["--requirepass", "pw"]``, ``["--appendonly", "yes"]``)."""

    def __init__(self, data_dir: Path, options: Sequence[str] = (), password: str | None = None):
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run scripts/redis_up.sh")
        self.binary, self.data_dir, self.password = binary, data_dir, password
        self.options = list(options) + (["--requirepass", password] if password else [])
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._procs: list[subprocess.Popen] = []

    def start(self) -> None:
        defaults = ["--save", "", "--appendonly", "no"]
        self._procs.append(
            subprocess.Popen(
                [self.binary, "--bind", "127.0.0.1", "--port", str(self.port),
                 "--dir", str(self.data_dir), *defaults, *self.options],
                stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        client = redis.Redis(port=self.port, password=self.password)
        try:
            for _ in range(100):
                try:
                    client.ping()
                    return
                except redis.ConnectionError:
                    time.sleep(0.05)
            raise RuntimeError(f"the private redis-server on port {self.port} did not start")
        finally:
            client.close()

    def stop(self) -> None:
        proc = self._procs.pop()
        proc.kill()
        proc.wait(10)

    def stop_all(self) -> None:
        while self._procs:
            self.stop()
