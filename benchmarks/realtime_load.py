"""Shared parts of the real-time benchmarks (bench_realtime_api.py, bench_realtime_latency.py):
start `audiences serve` on a free loopback port, keep-alive HTTP/1.1 over asyncio, an
open-loop load driver measured from due times, percentiles, Redis memory and clean-up of a
private key prefix."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def loopback_client(redis_url: str) -> redis.Redis:
    """A client of ``redis_url``; refuses a Redis that is not on this machine."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    host = client.connection_pool.connection_kwargs.get("host", "127.0.0.1")
    if host not in LOOPBACK:
        raise SystemExit("the benchmark runs against a loopback Redis only")
    return client


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def delete_prefix(client: redis.Redis, prefix: str) -> None:
    batch = []
    for name in client.scan_iter(match=f"{prefix}*", count=5000):
        batch.append(name)
        if len(batch) >= 5000:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def benchmark_env(redis_url: str, prefix: str, server_key: str, rate_limit: int) -> dict[str, str]:
    """The environment of the `audiences` processes a benchmark starts: its Redis, its
    private key prefix, one server key and a rate limit the load never reaches (the
    benchmarks measure the path, not the limiter refusing it)."""
    return {
        **os.environ,
        "AUDIENCES_REDIS_URL": redis_url,
        "AUDIENCES_REDIS_PREFIX": prefix,
        "AUDIENCES_SERVER_KEYS": server_key,
        "AUDIENCES_PUBLISHABLE_KEYS": "",
        "AUDIENCES_API_RATE_LIMIT": str(rate_limit),
    }


def start_server(env: dict[str, str], port: int, workers: int = 1) -> subprocess.Popen:
    """`audiences serve` on 127.0.0.1:``port``; returns once the port accepts connections."""
    command = [str(BIN / "audiences"), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", "--workers", str(workers)]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=PROJECT_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"audiences serve stopped at start (exit status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("audiences serve did not start within 30 s")


def stop_process(proc: subprocess.Popen | None, timeout: float = 15) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port`` with a bearer key."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Connection:
        self._reader, self._writer = await asyncio.open_connection("127.0.0.1", self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._writer is not None:
            self._writer.close()

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Sends one request, returns (status, body)."""
        assert self._reader is not None and self._writer is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
            f"Authorization: Bearer {self.key}\r\n"
        )
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self._writer.write(head.encode() + b"\r\n" + (body or b""))
        answer = await self._reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in answer.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        payload = await self._reader.readexactly(length) if length else b""
        return int(answer.split(b" ", 2)[1]), payload


Request = tuple[str, str, bytes | None]  # method, path, body


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds from each due time
    statuses: dict[int, int] = field(default_factory=dict)
    elapsed: float = 0.0


async def open_loop(
    port: int,
    key: str,
    make_request: Callable[[int], Request],
    total: int,
    rate: float,
    connections: int,
) -> LoadResult:
    """Open-loop load: request i is due at start + i / rate and built by ``make_request(i)``
    when it is sent, over ``connections`` keep-alive connections (connection c sends
    requests c, c + connections, ...). Latency counts from the due time, so a server that
    falls behind shows it (no coordinated omission)."""
    result = LoadResult()
    start = time.perf_counter() + 0.5

    async def run(c: int) -> None:
        async with Connection(port, key) as conn:
            for i in range(c, total, connections):
                at = start + i / rate
                delay = at - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                status, _ = await conn.request(*make_request(i))
                result.latencies.append(time.perf_counter() - at)
                result.statuses[status] = result.statuses.get(status, 0) + 1

    await asyncio.gather(*(run(c) for c in range(min(connections, total))))
    result.elapsed = time.perf_counter() - start
    return result


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
