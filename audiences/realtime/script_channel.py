"""One pipelined Redis connection for the lookup script (docs/realtime.md, "Performance").

redis-py's asyncio client takes a connection from its pool for each command, reads the
answer under a timeout of its own and hands the connection back; with a connection per
concurrent request, Redis reads and writes each command apart. At 2,000 lookups a second
that was most of the CPU a lookup cost. A lookup needs one command, EVALSHA of one script,
so a :class:`ScriptChannel` sends every lookup of a process down one connection: the
commands of one event-loop turn in one write, the answers handed to their callers in
order (Redis answers a connection's commands in the order it read them).

It fails as the client it stands in for does (``connect_async_redis`` in api.py):

- a connection refused, or not made within ``connect_timeout``: ``redis.ConnectionError``;
- a connection lost: the calls waiting on it fail with ``redis.ConnectionError``; a call is
  sent once more on a new connection before it fails (redis-py's one immediate retry), so
  the first lookup after a Redis restart reconnects;
- no answer within ``timeout`` seconds: the waiting calls fail with ``redis.TimeoutError``
  and the connection is dropped (its later answers could no longer be matched to calls);
- a script Redis no longer holds (restarted, ``SCRIPT FLUSH``): sent again as EVAL.

Plain TCP and Unix sockets only: :func:`channel_for` answers None for a TLS connection or
a credential provider, and the lookups then keep redis-py.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import deque
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
import redis.asyncio
import redis.asyncio.connection


class ScriptChannel:
    """EVALSHA over one pipelined connection, made on first use. A channel serves the calls
    of one event loop (one app under one server), as the connection it holds belongs to
    the loop it was made on."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6379,
        path: str | None = None,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 1.0,
        timeout: float = 2.0,
    ):
        self.host, self.port, self.path = host, port, path
        self.db, self.username, self.password = db, username, password
        self.connect_timeout, self.timeout = connect_timeout, timeout
        self.connections_made = 0  # since the channel was made (a reconnect adds one)
        self._connection: _Connection | None = None
        self._lock: asyncio.Lock | None = None
        self._lock_loop: asyncio.AbstractEventLoop | None = None

    def register_script(self, script: str) -> ChannelScript:
        """A callable ``(keys=..., args=...)`` running ``script``, as redis-py's own."""
        return ChannelScript(self, script)

    async def evalsha(self, script: ChannelScript, keys: Sequence[str], args: Sequence[str]) -> Any:
        command = script.evalsha_command(keys, args)
        retried = False
        while True:
            connection = await self._connected()
            try:
                return await connection.send(command)
            except redis.exceptions.NoScriptError:
                command = script.eval_command(keys, args)  # cached again by this EVAL
            except redis.ConnectionError:
                if retried:
                    raise
                retried = True

    async def aclose(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def _connected(self) -> _Connection:
        connection = self._connection
        if connection is not None and not connection.closed:
            # no get_running_loop() here: on Python 3.11 it is a getpid() system call, and
            # this runs once per lookup
            return connection
        loop = asyncio.get_running_loop()
        if self._lock is None or self._lock_loop is not loop:
            self._lock, self._lock_loop = asyncio.Lock(), loop
        async with self._lock:  # one connect at a time: the other calls wait for it
            connection = self._connection
            if connection is None or not connection.usable(loop):
                connection = self._connection = await self._connect(loop)
        return connection

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        where = self.path or f"{self.host}:{self.port}"
        try:
            async with asyncio.timeout(self.connect_timeout):
                if self.path:
                    _, connection = await loop.create_unix_connection(
                        lambda: _Connection(loop, self.timeout), self.path
                    )
                else:
                    _, connection = await loop.create_connection(
                        lambda: _Connection(loop, self.timeout), self.host, self.port
                    )
        except (OSError, TimeoutError) as exc:
            raise redis.ConnectionError(
                f"cannot connect to Redis at {where} ({type(exc).__name__})"
            ) from None
        self.connections_made += 1
        try:
            if self.password is not None:
                credentials = [self.username, self.password] if self.username else [self.password]
                await connection.send(_pack("AUTH", *credentials))
            if self.db:
                await connection.send(_pack("SELECT", str(self.db)))
        except redis.ResponseError as exc:
            connection.close()
            # AUTH's error names no secret; redis-py raises the same class
            raise redis.AuthenticationError(
                f"Redis at {where} refused the connection: {exc}"
            ) from None
        return connection


class ChannelScript:
    """A Lua script run through a :class:`ScriptChannel` (EVALSHA, EVAL when Redis lacks it)."""

    def __init__(self, channel: ScriptChannel, script: str):
        self.channel = channel
        self.script = script
        self.sha = hashlib.sha1(script.encode()).hexdigest()  # Redis's name of the script
        self._heads: dict[tuple[int, int], bytes] = {}

    async def __call__(self, keys: Sequence[str] = (), args: Sequence[str] = ()) -> Any:
        return await self.channel.evalsha(self, keys, args)

    def evalsha_command(self, keys: Sequence[str], args: Sequence[str]) -> bytes:
        shape = (len(keys), len(args))
        head = self._heads.get(shape)
        if head is None:  # the same for every call with as many keys and arguments
            head = self._heads[shape] = _pack_head(
                3 + len(keys) + len(args), "EVALSHA", self.sha, str(len(keys))
            )
        return head + _pack_tail(keys) + _pack_tail(args)

    def eval_command(self, keys: Sequence[str], args: Sequence[str]) -> bytes:
        return _pack("EVAL", self.script, str(len(keys)), *keys, *args)


def channel_for(client: redis.asyncio.Redis) -> ScriptChannel | None:
    """A channel to the server, database and credentials of ``client`` (decode_responses
    must be set: the channel's answers are decoded), or None when the client connects in a
    way the channel does not (TLS, a credential provider)."""
    pool = client.connection_pool
    given = pool.connection_kwargs
    if not given.get("decode_responses") or given.get("credential_provider") is not None:
        return None
    common: dict[str, Any] = {
        "db": int(given.get("db") or 0),
        "username": given.get("username"),
        "password": given.get("password"),
        "connect_timeout": given.get("socket_connect_timeout") or 1.0,
        "timeout": given.get("socket_timeout") or 2.0,
    }
    if pool.connection_class is redis.asyncio.connection.UnixDomainSocketConnection:
        return ScriptChannel(path=given["path"], **common)
    if pool.connection_class is redis.asyncio.connection.Connection:
        return ScriptChannel(
            host=given.get("host", "127.0.0.1"), port=int(given.get("port", 6379)), **common
        )
    return None


class _Connection(asyncio.Protocol):
    """One connection: commands out in order, answers matched to their calls in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float):
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._reader = hiredis.Reader(encoding="utf-8")
        self._waiting: deque[tuple[asyncio.Future[Any], float]] = deque()
        self._out: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None

    def usable(self, loop: asyncio.AbstractEventLoop) -> bool:
        return not self.closed and self.loop is loop

    def send(self, command: bytes) -> asyncio.Future[Any]:
        """Queues ``command`` (written with the others of this loop turn); the future gets
        its answer, or the error that ended the connection."""
        answer: asyncio.Future[Any] = self.loop.create_future()
        if self.closed:
            answer.set_exception(redis.ConnectionError("the connection to Redis was lost"))
            return answer
        self._waiting.append((answer, self.loop.time()))
        if not self._out:
            self.loop.call_soon(self._flush)
        self._out.append(command)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout, self._check_late)
        return answer

    def close(self) -> None:
        self._fail(redis.ConnectionError, "the connection to Redis was closed")
        if self.transport is not None:
            self.transport.close()

    # --- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        while True:
            try:
                reply = self._reader.gets()
            except hiredis.ProtocolError:
                self._abort(redis.ConnectionError, "Redis sent a reply that cannot be read")
                return
            except UnicodeDecodeError as exc:
                # a value that is not UTF-8: the reader has consumed the whole reply, so
                # only its caller fails, as with redis-py's decode_responses
                reply = exc
            if reply is False:
                return
            if not self._waiting:
                self._abort(redis.ConnectionError, "Redis sent a reply nobody asked for")
                return
            answer, _ = self._waiting.popleft()
            if answer.done():  # its caller gave up (cancelled)
                continue
            if isinstance(reply, UnicodeDecodeError):
                answer.set_exception(reply)
            elif isinstance(reply, hiredis.ReplyError):
                answer.set_exception(_response_error(str(reply)))
            else:
                answer.set_result(reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(redis.ConnectionError, "the connection to Redis was lost")

    # --- internals

    def _flush(self) -> None:
        if self._out and not self.closed and self.transport is not None:
            self.transport.write(b"".join(self._out))
        self._out.clear()

    def _check_late(self) -> None:
        self._watchdog = None
        if not self._waiting or self.closed:
            return
        waited = self.loop.time() - self._waiting[0][1]
        if waited >= self.timeout:
            self._abort(redis.TimeoutError, f"Redis did not answer within {self.timeout:g} s")
        else:
            self._watchdog = self.loop.call_later(self.timeout - waited, self._check_late)

    def _abort(self, error: type[redis.RedisError], message: str) -> None:
        self._fail(error, message)
        if self.transport is not None:
            self.transport.abort()

    def _fail(self, error: type[redis.RedisError], message: str) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        self._out.clear()
        while self._waiting:
            answer, _ = self._waiting.popleft()
            if not answer.done():
                answer.set_exception(error(message))


def _response_error(message: str) -> redis.ResponseError:
    if message.startswith("NOSCRIPT"):
        return redis.exceptions.NoScriptError(message)
    return redis.ResponseError(message)


def _pack_head(count: int, *parts: str) -> bytes:
    return b"*%d\r\n" % count + _pack_tail(parts)


def _pack_tail(parts: Sequence[str]) -> bytes:
    out = []
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _pack(*parts: str) -> bytes:
    """A command in the Redis protocol (RESP): an array of bulk strings."""
    return _pack_head(len(parts), *parts)
