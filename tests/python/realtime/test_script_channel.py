"""The lookups' pipelined Redis connection (audiences/realtime/script_channel.py) against a
real Redis server, and against small loopback servers that misbehave on purpose (silent,
hanging up) to prove it fails as the redis-py client it stands in for."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import pytest
import redis
import redis.asyncio
import uvloop
from realtime_http import PrivateRedis, free_port

from audiences.realtime.script_channel import ScriptChannel, channel_for

GET_SCRIPT = "return {KEYS[1], redis.call('GET', KEYS[1]), ARGV[1]}"


def run(main: Awaitable) -> object:
    return uvloop.run(main)  # the loop `audiences serve` runs on


def test_concurrent_calls_share_one_connection_and_get_their_own_answers(redis_url, keys):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    names = [keys.prefix + f"k{i}" for i in range(300)]
    client.mset({name: str(i * i) for i, name in enumerate(names)})
    channel = channel_for(redis.asyncio.Redis.from_url(redis_url, decode_responses=True))
    assert channel is not None and channel.db == 15  # the tests' database, from the URL

    async def main() -> list:
        script = channel.register_script(GET_SCRIPT)
        answers = await asyncio.gather(
            *(script(keys=[name], args=[f"call-{i}"]) for i, name in enumerate(names))
        )
        await channel.aclose()
        return answers

    answers = run(main())
    assert answers == [[name, str(i * i), f"call-{i}"] for i, name in enumerate(names)]
    assert channel.connections_made == 1
    client.close()


def test_a_redis_error_reaches_its_own_caller_only(redis_url, keys):
    channel = channel_for(redis.asyncio.Redis.from_url(redis_url, decode_responses=True))

    async def main() -> list:
        failing = channel.register_script("return redis.error_reply('NOPE ' .. ARGV[1])")
        fine = channel.register_script("return ARGV[1]")
        return await asyncio.gather(
            fine(args=["a"]), failing(args=["b"]), fine(args=["c"]), return_exceptions=True
        )

    first, second, third = run(main())
    assert (first, third) == ("a", "c")
    assert isinstance(second, redis.ResponseError) and str(second) == "NOPE b"


def test_a_value_that_is_not_utf8_fails_its_own_call_only(redis_url, keys):
    raw = redis.Redis.from_url(redis_url)
    raw.set(keys.prefix + "bad", b"\xff\xfe")
    raw.set(keys.prefix + "good", b"ok")
    channel = channel_for(redis.asyncio.Redis.from_url(redis_url, decode_responses=True))

    async def main() -> list:
        get = channel.register_script("return redis.call('GET', KEYS[1])")
        return await asyncio.gather(
            *(get(keys=[keys.prefix + name]) for name in ("good", "bad", "good")),
            return_exceptions=True,
        )

    first, second, third = run(main())
    assert (first, third) == ("ok", "ok")
    assert isinstance(second, UnicodeDecodeError)  # as redis-py's decode_responses raises
    assert channel.connections_made == 1
    raw.close()


@pytest.fixture
def private_redis(tmp_path):
    """A redis-server of this test alone, with a password (SCRIPT FLUSH and restarts must
    not touch the shared one). Yields (port, start, stop)."""
    server = PrivateRedis(tmp_path, password="pw-1")
    server.start()
    yield server.port, server.start, server.stop
    server.stop_all()


def test_password_database_a_flushed_script_and_a_restart(private_redis):
    port, start, stop = private_redis
    admin = redis.Redis(port=port, password="pw-1", db=3, decode_responses=True)
    admin.set("k", "v")
    channel = channel_for(
        redis.asyncio.Redis.from_url(f"redis://:pw-1@127.0.0.1:{port}/3", decode_responses=True)
    )
    wrong = channel_for(
        redis.asyncio.Redis.from_url(f"redis://:nope@127.0.0.1:{port}/3", decode_responses=True)
    )

    async def call(ch: ScriptChannel) -> object:
        return await ch.register_script(GET_SCRIPT)(keys=["k"], args=["x"])

    async def main() -> None:
        assert await call(channel) == ["k", "v", "x"]
        admin.script_flush()  # Redis forgets the script: the channel sends it again (EVAL)
        assert await call(channel) == ["k", "v", "x"]
        assert await call(channel) == ["k", "v", "x"]  # and EVALSHA finds it again
        with pytest.raises(redis.AuthenticationError) as refused:
            await call(wrong)
        assert "nope" not in str(refused.value)
        stop()
        with pytest.raises(redis.ConnectionError):
            await call(channel)
        start()  # empty again, script cache included
        redis.Redis(port=port, password="pw-1", db=3).set("k", "w")
        assert await call(channel) == ["k", "w", "x"]  # the next call reconnects

    run(main())
    assert channel.connections_made == 2
    admin.close()


def test_nothing_listening_is_a_connection_error_at_once():
    channel = ScriptChannel(port=free_port())
    started = time.monotonic()
    refused = re.escape("cannot connect to Redis at 127.0.0.1")
    with pytest.raises(redis.ConnectionError, match=refused):
        run(channel.register_script("return 1")())
    assert time.monotonic() - started < 1


async def _serving(answer: Callable[[int, bytes], bytes | None]) -> tuple[asyncio.Server, int]:
    """A loopback server that answers every chunk it reads on its n-th connection (from 1)
    with ``answer(n, chunk)``: bytes to send, b"" to send nothing, None to hang up."""
    made = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal made
        made += 1
        n = made
        while chunk := await reader.read(65536):
            reply = answer(n, chunk)
            if reply is None:
                writer.close()
                return
            writer.write(reply)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def test_a_silent_server_is_a_timeout_and_the_next_call_reconnects():
    # the first connection never answers; the second answers every command with 7
    def answer(n: int, chunk: bytes) -> bytes:
        return b"" if n == 1 else b":7\r\n" * chunk.count(b"EVALSHA")

    async def main() -> tuple[float, object]:
        server, port = await _serving(answer)
        channel = ScriptChannel(port=port, timeout=0.3)
        script = channel.register_script("return 7")
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError, match=re.escape("did not answer within 0.3 s")):
            await asyncio.gather(script(), script())
        waited = time.monotonic() - started
        again = await script()
        await channel.aclose()
        server.close()
        return waited, (again, channel.connections_made)

    waited, (again, connections) = run(main())
    assert 0.3 <= waited < 1.5
    assert again == 7 and connections == 2


def test_a_call_whose_connection_is_lost_is_sent_once_more():
    # the first connection hangs up on the first command; the second answers
    def answer(n: int, chunk: bytes) -> bytes | None:
        return None if n == 1 else b":1\r\n"

    def never(n: int, chunk: bytes) -> None:
        return None

    async def main() -> tuple[object, int]:
        server, port = await _serving(answer)
        channel = ScriptChannel(port=port)
        got = await channel.register_script("return 1")()
        server.close()
        hanging, port = await _serving(never)
        other = ScriptChannel(port=port)
        with pytest.raises(redis.ConnectionError, match="lost"):
            await other.register_script("return 1")()  # lost twice: the error
        hanging.close()
        return got, channel.connections_made, other.connections_made

    assert run(main()) == (1, 2, 2)


def test_channel_for_keeps_redis_py_where_the_channel_cannot_go():
    assert channel_for(redis.asyncio.Redis.from_url("rediss://127.0.0.1:6380/0")) is None
    assert channel_for(redis.asyncio.Redis.from_url("redis://127.0.0.1:6380/0")) is None  # bytes
    unix = channel_for(
        redis.asyncio.Redis.from_url("unix:///run/redis.sock?db=2", decode_responses=True)
    )
    assert unix is not None and (unix.path, unix.db) == ("/run/redis.sock", 2)
