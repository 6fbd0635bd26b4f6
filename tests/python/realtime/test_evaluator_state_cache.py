"""The evaluator's device states kept in memory between batches (device_cache.py), on a real
Redis: a warm cache writes exactly the keys an evaluator without one writes, erasure
forgets cached states, and a second evaluator started on the same prefix stops the first
one before it writes anything (the owner token checked inside the commit script)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from realtime_state import rt_snapshot

from audiences.realtime.evaluator import Evaluator, load_rules
from audiences.realtime.evaluator.device_cache import DeviceCache, EvaluatorReplaced
from audiences.realtime.evaluator.state_keys import StateKeys
from audiences.realtime.keys import EVALUATOR_GROUP, RedisKeys
from audiences.realtime.stream import RedisEventStream

ROOT = Path(__file__).resolve().parents[3]
T = datetime(2026, 11, 24, 12, 0, 0)


def _event(n: int, anon: str, minutes_before: float, event_type: str = "page_view", **extra):
    return {
        "event_id": f"e{n}",
        "anonymous_id": anon,
        "event_type": event_type,
        "page_type": extra.pop("page_type", "product"),
        "product_id": extra.pop("product_id", "p1"),
        "occurred_at": (T - timedelta(minutes=minutes_before)).isoformat(),
        **extra,
    }


def _batches() -> list[tuple[datetime, list[dict]]]:
    """Six batches at advancing instants; the same devices come back batch after batch: a
    device seen again, a login on a device already cached, a shared device, a late event,
    a duplicate and an add to cart abandoned once 30 minutes pass."""
    e = _event
    return [
        (T - timedelta(minutes=60), [e(0, "a1", 65), e(1, "a1", 64), e(2, "a2", 63)]),
        (T - timedelta(minutes=50), [e(3, "a1", 55), e(4, "a2", 54, "add_to_cart")]),
        (T - timedelta(minutes=40), [e(5, "a1", 45, user_id="u1"), e(6, "s", 44, user_id="u2")]),
        (T - timedelta(minutes=30), [e(7, "s", 35), e(8, "a1", 70), e(3, "a1", 55)]),
        (T - timedelta(minutes=10), [e(9, "s", 12, user_id="u3"), e(10, "a2", 11)]),
        (T, [e(11, "a1", 1), e(12, "c1", 1, user_id="u1")]),
    ]


class Run:
    """One evaluator started once, fed batch by batch (its cache stays warm)."""

    def __init__(self, client, keys: RedisKeys, cache: DeviceCache, consumer: str = "c"):
        self.client, self.keys = client, keys
        self.now = T
        self.stream = RedisEventStream(client, keys)
        self.evaluator = Evaluator(
            client,
            keys,
            self.stream,
            load_rules(ROOT),
            clock=lambda: self.now,
            consumer=consumer,
            cache=cache,
        )
        self.evaluator.start()

    def publish(self, events: list[dict], at: datetime) -> None:
        self.now = at
        for event in events:
            self.client.delete(self.keys.seen(event["event_id"]))  # duplicates get through
        self.stream.publish(events)

    def step(self) -> int:
        entries = self.stream.read(EVALUATOR_GROUP, self.evaluator.consumer, 100)
        return self.evaluator.process(entries).entries


def test_a_warm_cache_writes_the_keys_an_evaluator_without_one_writes(redis_client, keys):
    other = RedisKeys(keys.prefix + "nocache:")
    cached = Run(redis_client, keys, DeviceCache(100))
    uncached = Run(redis_client, other, DeviceCache(0))
    try:
        for at, events in _batches():
            for run in (cached, uncached):
                run.publish(events, at)
                assert run.step() == len(events)
        assert cached.evaluator.cache.hits > 0
        assert uncached.evaluator.cache.hits == 0
        assert len(uncached.evaluator.cache) == 0
        snapshot = rt_snapshot(redis_client, keys)
        assert snapshot == rt_snapshot(redis_client, other)
        # the scenario does reach memberships and changes (the comparison is not vacuous)
        assert any(name.startswith("rt:seg:") for name in snapshot)
        assert snapshot["rt:changes"]
    finally:
        names = list(redis_client.scan_iter(match=f"{other.prefix}*", count=1000))
        if names:
            redis_client.delete(*names)


def test_a_cache_smaller_than_the_devices_evicts_the_least_recently_used():
    cache = DeviceCache(2)
    from audiences.realtime.evaluator.device import DeviceState

    cache.keep([DeviceState("a"), DeviceState("b")])
    found, missing = cache.take(["a"])  # a is now the most recently used
    assert list(found) == ["a"] and missing == []
    cache.keep([DeviceState("c")])
    found, missing = cache.take(["c", "b", "a"])
    assert sorted(found) == ["a", "c"] and missing == ["b"]
    assert (cache.hits, cache.misses) == (3, 1)
    cache.forget(["a", "zzz"])
    assert cache.take(["a"])[1] == ["a"]
    empty = DeviceCache(0)
    empty.keep([DeviceState("a")])
    assert len(empty) == 0
    with pytest.raises(ValueError, match="negative"):
        DeviceCache(-1)


def test_erasure_forgets_the_cached_states_of_the_erased_devices(redis_client, keys):
    run = Run(redis_client, keys, DeviceCache(100))
    state = StateKeys(keys)
    run.publish([_event(0, "s", 20, user_id="u1"), _event(1, "s", 19), _event(2, "k", 18)], T)
    run.step()
    assert run.evaluator.cache.take(["s", "k"])[1] == []
    redis_client.sadd(keys.batch.erased, "u1", "s")
    for erased in ("u1", "s"):
        redis_client.xadd(keys.batch.erasures, {"id": erased})
    run.step()  # no entries: the erasures are applied before the (empty) batch
    assert run.evaluator.cache.take(["s", "k"])[1] == ["s"]
    assert redis_client.get(state.device("s")) is None
    # an event of a kept device later on: the erased device's state does not come back
    run.publish([_event(3, "k", 1)], T)
    run.step()
    assert redis_client.get(state.device("s")) is None
    assert redis_client.get(state.device("k")) is not None


def test_a_second_evaluator_on_the_same_prefix_stops_the_first_before_it_writes(redis_client, keys):
    first = Run(redis_client, keys, DeviceCache(100))
    first.publish([_event(0, "a1", 5), _event(1, "a1", 4)], T)
    assert first.step() == 2
    before = rt_snapshot(redis_client, keys)
    first.publish([_event(2, "a1", 3)], T)
    second = Run(redis_client, keys, DeviceCache(100))  # same consumer name: takes over
    entries = first.stream.read(EVALUATOR_GROUP, "c", 100)
    with pytest.raises(EvaluatorReplaced, match="another evaluator"):
        first.evaluator.process(entries)
    assert rt_snapshot(redis_client, keys) == before  # nothing written
    assert len(first.evaluator.cache) == 0  # its in-memory changes are dropped
    assert first.stream.lag(EVALUATOR_GROUP) == 1  # the entry is still pending
    assert second.evaluator.run(once=True, count=100, block_ms=0) == 1
    assert first.stream.lag(EVALUATOR_GROUP) == 0
    assert redis_client.zscore(StateKeys(keys).due, "a1") is not None
