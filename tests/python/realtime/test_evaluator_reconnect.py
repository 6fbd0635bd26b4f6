"""A Redis restart under a running `audiences stream`: the evaluator waits, reconnects and
catches up, and the state committed before the restart survives (AOF on). Runs its own
Redis server on a free port so the shared one is never restarted."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import redis

from audiences.realtime.keys import RedisKeys
from audiences.realtime.stream import RedisEventStream

ROOT = Path(__file__).resolve().parents[3]
AUDIENCES = str(Path(sys.executable).with_name("audiences"))
T = datetime(2026, 11, 24, 12, 0, 0)
KEYS = RedisKeys("reconnect:")

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():
                return True
        except redis.ConnectionError:
            pass
        time.sleep(0.1)
    return False


class OwnRedis:
    def __init__(self, data_dir: Path):
        self.port = _free_port()
        self.data_dir = data_dir
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--appendonly", "yes", "--appendfsync", "always",
             "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert _wait(lambda: self.client().ping())

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_timeout=2)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(tmp_path)
    server.start()
    yield server
    if server.process and server.process.poll() is None:
        server.kill()


def _views(anon: str) -> list[dict]:
    return [
        {
            "event_id": f"{anon}-{i}",
            "anonymous_id": anon,
            "event_type": "page_view",
            "page_type": "product",
            "product_id": "p1",
            "occurred_at": (T - timedelta(minutes=i + 1)).isoformat(),
        }
        for i in range(4)
    ]


def test_evaluator_survives_a_redis_restart_and_catches_up(own_redis):
    RedisEventStream(own_redis.client(), KEYS).publish(_views("a1"))
    env = {**os.environ, "AUDIENCES_REDIS_URL": f"redis://127.0.0.1:{own_redis.port}/0",
           "AUDIENCES_REDIS_PREFIX": KEYS.prefix}  # fmt: skip
    env.pop("AUDIENCES_TEST_CRASH_AT", None)
    evaluator = subprocess.Popen(
        [AUDIENCES, "stream", "--as-of", T.isoformat(), "--block-ms", "100",
         "--consumer", "c1", "--project-dir", str(ROOT)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        member = "viewed_product_3x_24h"
        assert _wait(lambda: member in own_redis.client().smembers(KEYS.live_segments("a1")))
        own_redis.kill()
        time.sleep(1.0)  # the evaluator is retrying now
        assert evaluator.poll() is None
        own_redis.start()
        RedisEventStream(own_redis.client(), KEYS).publish(_views("a2"))
        assert _wait(lambda: member in own_redis.client().smembers(KEYS.live_segments("a2")))
        assert member in own_redis.client().smembers(KEYS.live_segments("a1"))  # from the AOF
        assert evaluator.poll() is None
    finally:
        evaluator.terminate()
        output = evaluator.communicate(timeout=10)[0]
    assert "Redis unreachable" in output
