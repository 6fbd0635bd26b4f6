"""The evaluator's one-call reads and writes (redis_batch.py) on a real Redis: every
operation lands exactly as the plain command would, sets larger than one unpack() chunk
included; the owner check writes nothing when the token differs. Also the batch-wise
garbage collection (collector.py) and the stats line (stats.py)."""

from __future__ import annotations

import gc
import logging

import pytest

from audiences.realtime.evaluator.collector import BatchCollector
from audiences.realtime.evaluator.redis_batch import (
    BatchWrites,
    OwnerChanged,
    RedisScripts,
    read_devices,
    read_sets,
)
from audiences.realtime.evaluator.stats import BatchStats


def test_every_operation_lands_as_the_plain_command(redis_client, keys):
    k = keys.state
    redis_client.set(k("gone"), "x")
    redis_client.sadd(k("small"), "keep", "drop")
    redis_client.zadd(k("due"), {"p1": 5, "p2": 6})
    redis_client.xgroup_create(k("stream"), "g", id="0", mkstream=True)
    ids = [redis_client.xadd(k("stream"), {"e": str(i)}) for i in range(3)]
    redis_client.xreadgroup("g", "c", {k("stream"): ">"})
    many = [f"m{i:04d}" for i in range(2500)]  # more than one chunk of 1000

    writes = BatchWrites()
    writes.set(k("s"), "value")
    writes.set(k("b"), b'{"e":[1]}')
    writes.delete(k("gone"))
    writes.sadd(k("big"), *many)
    writes.srem(k("big"), *many[:1500])
    writes.sadd(k("small"))  # no members: nothing to do
    writes.srem(k("small"), "drop")
    writes.zadd(k("due"), "p3", 7)
    writes.zadd(k("due"), "p1", 9)
    writes.zrem(k("due"), "p2")
    writes.xadd(k("changes"), {"person_id": "p1", "segment_key": "s1", "change": "entered"})
    writes.xack(k("stream"), "g", ids[:2])
    redis_client.rpush(k("list"), "old")
    writes.rpush(k("list"), *many)  # appended, in order, over several chunks
    writes.rpush(k("list"))  # no values: nothing to do
    writes.apply(RedisScripts(redis_client))

    assert redis_client.get(k("s")) == "value"
    assert redis_client.get(k("b")) == '{"e":[1]}'
    assert not redis_client.exists(k("gone"))
    assert redis_client.smembers(k("big")) == set(many[1500:])
    assert redis_client.smembers(k("small")) == {"keep"}
    assert redis_client.zrange(k("due"), 0, -1, withscores=True) == [("p3", 7.0), ("p1", 9.0)]
    assert [f for _, f in redis_client.xrange(k("changes"))] == [
        {"person_id": "p1", "segment_key": "s1", "change": "entered"}
    ]
    assert redis_client.xpending(k("stream"), "g")["pending"] == 1
    assert redis_client.lrange(k("list"), 0, -1) == ["old", *many]


def test_read_devices_gives_each_devices_metadata_and_list(redis_client, keys):
    k = keys.state
    redis_client.set(k("meta:a"), '{"u":[]}')
    redis_client.rpush(k("list:a"), "e1", "e2")
    redis_client.rpush(k("list:b"), "e3")  # a list without metadata
    pairs = [(k("meta:a"), k("list:a")), (k("meta:b"), k("list:b")), (k("meta:c"), k("list:c"))]
    assert read_devices(RedisScripts(redis_client), pairs) == [
        ('{"u":[]}', ["e1", "e2"]),
        (None, ["e3"]),
        (None, []),
    ]
    assert read_devices(RedisScripts(redis_client), []) == []


def test_the_owner_check_writes_nothing_when_another_token_owns_the_state(redis_client, keys):
    scripts = RedisScripts(redis_client)
    owner = keys.state("owner")
    redis_client.set(owner, "token-b")
    writes = BatchWrites(owner=(owner, "token-a"))
    writes.set(keys.state("x"), "1")
    writes.sadd(keys.state("y"), "m")
    with pytest.raises(OwnerChanged, match="another owner"):
        writes.apply(scripts)
    assert not redis_client.exists(keys.state("x"), keys.state("y"))

    redis_client.set(owner, "token-a")
    writes.apply(scripts)
    assert redis_client.get(keys.state("x")) == "1"


def test_read_sets_answers_in_order_with_empty_sets_for_missing_keys(redis_client, keys):
    redis_client.sadd(keys.state("a"), "1", "2")
    redis_client.sadd(keys.state("c"), "3")
    found = read_sets(RedisScripts(redis_client), [keys.state(n) for n in "abc"])
    assert found == [{"1", "2"}, set(), {"3"}]
    assert read_sets(RedisScripts(redis_client), []) == []


def test_the_collector_turns_automatic_collection_off_and_collects_in_full_rarely():
    now = [0.0]
    generations: list[int] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            generations.append(info["generation"])

    gc.callbacks.append(seen)
    try:
        assert gc.isenabled()
        with BatchCollector(full_every_s=600, clock=lambda: now[0]) as collector:
            assert not gc.isenabled()
            kept = [[] for _ in range(10)]  # containers the batch allocated
            collector.after_batch(idle=False)  # set aside, nothing collected
            assert gc.get_freeze_count() >= len(kept)
            now[0] = 601
            collector.after_batch(idle=False)  # due, but the stream is busy
            collector.after_batch(idle=True)  # due and idle: everything
            assert generations == [2]
            collector.after_batch(idle=True)  # just done: set aside
            now[0] = 601 + 1200
            collector.after_batch(idle=False)  # overdue twice over: everything anyway
        assert gc.isenabled()
        assert gc.get_freeze_count() == 0
    finally:
        gc.callbacks.remove(seen)
    assert generations == [2, 2]


def test_the_stats_line_sums_the_batches_of_each_period(caplog):
    class Result:
        def __init__(self, entries: int, persons: int, due: int, phase_s: dict[str, float]):
            self.entries, self.persons, self.due, self.phase_s = entries, persons, due, phase_s

    now = [0.0]
    stats = BatchStats(every_s=10, clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="audiences.realtime.evaluator"):
        stats.add(Result(20, 18, 1, {"apply": 0.01, "commit": 0.02}))
        now[0] = 4
        stats.add(Result(0, 0, 0, {}))  # an empty read: not a batch
        stats.add(Result(30, 25, 0, {"apply": 0.03, "commit": 0.04}))
        assert not caplog.records
        now[0] = 10
        stats.add(Result(50, 40, 2, {"apply": 0.06, "commit": 0.10}))
    assert [r.getMessage() for r in caplog.records] == [
        "last 10 s: 3 batches, 100 entries, 83 persons (3 due); busy 0.26 s "
        "(apply 0.10 s, commit 0.16 s); slowest batch 160 ms"
    ]
    assert stats.batches == 0  # the next period starts empty
