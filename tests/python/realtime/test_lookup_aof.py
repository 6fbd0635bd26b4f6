"""A lookup counts its key's rate in Redis but writes nothing to the append-only file: the
counter lives two seconds (lookup.LOOKUP_SCRIPT, decision 0016). A private redis-server with
AOF on, as scripts/redis_up.sh runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio
import uvloop
from realtime_http import PrivateRedis, seed_batch

from audiences.realtime.auth import Caller, KeyKind, RateLimiter
from audiences.realtime.keys import RedisKeys
from audiences.realtime.lookup import SegmentLookup
from audiences.realtime.script_channel import channel_for

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
CALLER = Caller(KeyKind.SERVER, "0123456789abcdef", frozenset())


@pytest.fixture
def aof_redis(tmp_path):
    server = PrivateRedis(tmp_path, ["--appendonly", "yes", "--appendfsync", "always"])
    server.start()
    client = redis.Redis(port=server.port, decode_responses=True)
    try:
        yield server.port, client
    finally:
        client.close()
        server.stop_all()


def aof_size(client: redis.Redis) -> int:
    return int(client.info("persistence")["aof_current_size"])


@pytest.mark.parametrize("over", ["channel", "redis-py"])
def test_lookups_count_the_rate_and_write_nothing_to_the_aof(aof_redis, over):
    port, client = aof_redis
    keys = RedisKeys("aud:")
    seed_batch(client, keys, NOW - timedelta(hours=1), people={"p": ["s1"]}, ids={"p": "p"})
    async_client = redis.asyncio.Redis(port=port, decode_responses=True)
    lookup = SegmentLookup(
        channel_for(async_client) if over == "channel" else async_client,
        keys,
        timedelta(hours=26),
    )
    limiter = RateLimiter(async_client, keys, limit=100)

    async def main() -> list[list[str]]:
        found = [
            (await lookup.lookup("p", NOW, limiter.check(CALLER, NOW))).segments for _ in range(20)
        ]
        await async_client.aclose()
        return found

    before = aof_size(client)
    assert uvloop.run(main()) == [["s1"]] * 20
    counter = keys.rate(CALLER.key_id, int(NOW.timestamp()))
    assert client.get(counter) == "20"
    assert 0 < client.ttl(counter) <= 2
    assert aof_size(client) == before  # 20 lookups, 20 counts, nothing on disk
    client.incr(counter)  # a write outside the script does reach the file
    assert aof_size(client) > before
