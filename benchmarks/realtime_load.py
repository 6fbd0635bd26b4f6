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
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import redis

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")
T = TypeVar("T")


def loopback_client(redis_url: str) -> redis.Redis:
    """A client of ``redis_url``; refuses a Redis that is not on this machine."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    host = client.connection_pool.connection_kwargs.get("host", "127.0.0.1")
    if host not in LOOPBACK:
        raise SystemExit("the benchmark runs against a loopback Redis only")
    return client


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def settle_persistence(client: redis.Redis, timeout: float = 300.0) -> float:
    """Rewrite the append-only file now and wait until it is done, so that a rewrite the
    seeding itself triggered (the AOF doubled) does not fork Redis during the measured
    load. Returns the seconds it took (0 without AOF)."""
    if str(client.config_get("appendonly").get("appendonly")) != "yes":
        return 0.0
    started = time.monotonic()
    while client.info("persistence").get("aof_rewrite_in_progress"):
        time.sleep(0.2)  # one already running: BGREWRITEAOF would only schedule another
    client.bgrewriteaof()
    while True:
        info = client.info("persistence")
        if not info.get("aof_rewrite_in_progress") and not info.get("aof_rewrite_scheduled"):
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise SystemExit(f"Redis still rewriting its append-only file after {timeout:.0f} s")
        time.sleep(0.2)


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


class _ResponseReader(asyncio.Protocol):
    """The client side of one keep-alive HTTP/1.1 connection: answers (``Content-Length``
    framed, as uvicorn frames ours) handed to the waiting requests in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiting: deque[asyncio.Future[tuple[int, bytes]]] = deque()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while self._waiting:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(buffer[:end]).lower()
            length = 0
            at = head.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = head.find(b"\r\n", at + 2)
                length = int(head[at + 17 : stop if stop >= 0 else len(head)])
            if len(buffer) < end + 4 + length:
                return
            status = int(head[9:12])
            body = bytes(buffer[end + 4 : end + 4 + length])
            del buffer[: end + 4 + length]
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result((status, body))

    def connection_lost(self, exc: Exception | None) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"the server closed the connection: {exc}"))

    def expect(self) -> asyncio.Future[tuple[int, bytes]]:
        assert self.transport is not None
        waiter = self.loop.create_future()
        self._waiting.append(waiter)
        return waiter


class Connection:
    """One keep-alive HTTP/1.1 connection to 127.0.0.1:``port`` with a bearer key, as cheap
    for the load generator as asyncio allows (a protocol, no stream reader; the fixed part of
    every request encoded once), so that the server, not the generator, takes the CPU."""

    def __init__(self, port: int, key: str):
        self.port, self.key = port, key
        self._protocol: _ResponseReader | None = None
        self._fixed = (
            f" HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
        ).encode()

    async def __aenter__(self) -> Connection:
        loop = asyncio.get_running_loop()
        _, self._protocol = await loop.create_connection(
            lambda: _ResponseReader(loop), "127.0.0.1", self.port
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        """Sends one request, returns (status, body)."""
        protocol = self._protocol
        assert protocol is not None and protocol.transport is not None
        head = method.encode() + b" " + path.encode() + self._fixed
        if body is None:
            data = head + b"\r\n"
        else:
            data = (
                head
                + b"Content-Type: application/json\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
        answer = protocol.expect()
        protocol.transport.write(data)
        return await answer


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed (a project dependency off Windows):
    the load generator's own event loop costs a fraction of the default one's CPU."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows
        return asyncio.run(main)
    return uvloop.run(main)


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
    loop = asyncio.get_running_loop()

    async def run(c: int) -> None:
        async with Connection(port, key) as conn:
            for i in range(c, total, connections):
                at = start + i / rate
                delay = at - time.perf_counter()
                if delay > 0:
                    # asyncio.sleep without its get_running_loop(), a getpid() system call
                    # on Python 3.11: the generator's CPU is the server's to measure
                    due = loop.create_future()
                    loop.call_later(delay, _wake, due)
                    await due
                status, _ = await conn.request(*make_request(i))
                result.latencies.append(time.perf_counter() - at)
                result.statuses[status] = result.statuses.get(status, 0) + 1

    await asyncio.gather(*(run(c) for c in range(min(connections, total))))
    result.elapsed = time.perf_counter() - start
    return result


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process and all its live descendants (Linux
    /proc): a `serve --workers N` supervisor and its workers."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as fh:
                # the fields after the command name, which may hold spaces and parentheses
                fields = fh.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    todo.extend(int(c) for c in fh.read().split())
        except (OSError, IndexError, ValueError):
            continue  # the process ended meanwhile
    return total / tick


def redis_cpu_seconds(client: redis.Redis) -> float:
    """CPU seconds the Redis server has used (INFO cpu, user + system, all its threads)."""
    cpu = client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


@dataclass(frozen=True)
class CpuShare:
    """CPU seconds spent during a load by the server processes, the load generator (this
    process) and Redis."""

    server: float
    load_generator: float
    redis: float

    def per_request_us(self, requests: int) -> str:
        """The three figures and their sum in microseconds per request."""
        us = [v / max(requests, 1) * 1e6 for v in (self.server, self.load_generator, self.redis)]
        return (
            f"server {us[0]:.0f} us, load generator {us[1]:.0f} us, Redis {us[2]:.0f} us, "
            f"total {sum(us):.0f} us"
        )


class CpuMeter:
    """Measures :class:`CpuShare` between :meth:`start` and :meth:`stop`."""

    def __init__(self, server_pid: int, client: redis.Redis):
        self.server_pid, self.client = server_pid, client
        self._start = (0.0, 0.0, 0.0)

    def _now(self) -> tuple[float, float, float]:
        return (
            tree_cpu_seconds(self.server_pid),
            time.process_time(),
            redis_cpu_seconds(self.client),
        )

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> CpuShare:
        end = self._now()
        return CpuShare(*(b - a for a, b in zip(self._start, end, strict=True)))


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
