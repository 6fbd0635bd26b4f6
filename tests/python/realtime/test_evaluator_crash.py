"""kill -9 of `audiences stream` at every point of a batch: after the read, after the
evaluation (before the MULTI/EXEC), after the commit. Restarted, the evaluator finishes its
pending entries first and the final rt:* keys (memberships, person map, changes stream,
state, due set) equal an uninterrupted run: no event lost, none counted twice. With a stream
that is not Redis (acknowledged after the commit), a crash between the commit and the
acknowledgement re-delivers the batch, and the device state's event ids make it a no-op."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from realtime_state import rt_snapshot

from audiences.realtime.evaluator import Evaluator, load_rules
from audiences.realtime.evaluator.engine import CrashHook
from audiences.realtime.keys import EVALUATOR_GROUP, RedisKeys
from audiences.realtime.stream import RedisEventStream

ROOT = Path(__file__).resolve().parents[3]
AUDIENCES = str(Path(sys.executable).with_name("audiences"))
T = datetime(2026, 11, 24, 12, 0, 0)


def _events() -> list[dict]:
    events = []

    def add(anon: str, minutes_before: float, event_type: str = "page_view", **extra) -> None:
        events.append(
            {
                "event_id": f"e{len(events)}",
                "anonymous_id": anon,
                "event_type": event_type,
                "page_type": extra.pop("page_type", "product"),
                "product_id": extra.pop("product_id", "p1"),
                "occurred_at": (T - timedelta(minutes=minutes_before)).isoformat(),
                **extra,
            }
        )

    for i in range(5):  # a1: 5 views of p1, then a login
        add("a1", 50 - i)
    add("a1", 10, "cta_click", user_id="u1", page_type="account")
    add("a2", 120)  # a2: view, add to cart 30 min later, no purchase
    add("a2", 90, "add_to_cart", page_type="cart")
    for i in range(4):  # a3: shared device, u2 then u3
        add("a3", 300 - i, user_id="u2" if i == 0 else None)
    add("a3", 200, user_id="u3")
    add("a3", 199)
    add("a2", 100)  # late: a second view before the add to cart
    add("a4", 5)
    add("a4", 4, "add_to_cart", page_type="cart")  # 4 min before T: not yet abandoned
    add("a1", 49)  # duplicate id below
    events.append(dict(events[0]))
    return events


def _publish(client, keys: RedisKeys) -> None:
    stream = RedisEventStream(client, keys)
    for event in _events():
        client.delete(keys.seen(event["event_id"]))  # let the duplicate through
        stream.publish([event])


def _run(redis_url: str, keys: RedisKeys, crash: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "AUDIENCES_TEST_CRASH_AT"}
    env.update({"AUDIENCES_REDIS_URL": redis_url, "AUDIENCES_REDIS_PREFIX": keys.prefix})
    if crash:
        env["AUDIENCES_TEST_CRASH_AT"] = crash
    completed = subprocess.run(
        [AUDIENCES, "stream", "--once", "--as-of", T.isoformat(), "--batch-size", "4",
         "--block-ms", "0", "--consumer", "c1", "--project-dir", str(ROOT)],
        env=env, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert crash or completed.returncode == 0, completed.stderr
    return completed.returncode


@pytest.fixture
def reference(redis_url, redis_client):
    keys = RedisKeys(f"test:{uuid.uuid4().hex[:12]}:")
    _publish(redis_client, keys)
    _run(redis_url, keys)
    yield rt_snapshot(redis_client, keys)
    names = list(redis_client.scan_iter(match=f"{keys.prefix}*", count=1000))
    if names:
        redis_client.delete(*names)


def test_uninterrupted_run_gives_the_hand_computed_memberships(reference):
    assert reference["rt:seg:u1"] == ["viewed_product_3x_24h"]
    assert reference["rt:seg:a2"] == ["viewed_then_abandoned_30m"]
    assert reference["rt:seg:u2"] == ["viewed_product_3x_24h"]  # 4 views, u2's session
    assert "rt:seg:u3" not in reference
    assert "rt:seg:a1" not in reference  # stitched to u1
    assert "rt:seg:a4" not in reference
    assert reference["rt:person_of:a1"] == "u1"
    assert reference["rt:person_of:a3"] == "a3"  # shared device
    assert sorted(reference["rt:streamable"]) == [
        "viewed_product_3x_24h",
        "viewed_then_abandoned_30m",
    ]


@pytest.mark.parametrize(
    "crash", ["read:1", "read:3", "evaluated:1", "evaluated:4", "committed:2", "committed:5"]
)
def test_kill_9_at_any_point_then_restart_equals_an_uninterrupted_run(
    crash, reference, redis_url, redis_client, keys
):
    _publish(redis_client, keys)
    assert _run(redis_url, keys, crash) == -signal.SIGKILL
    assert _run(redis_url, keys) == 0
    assert rt_snapshot(redis_client, keys) == reference
    assert RedisEventStream(redis_client, keys).lag(EVALUATOR_GROUP) == 0


class OtherStream:
    """An EventStream that is not Redis Streams (as a Kafka consumer would be): the
    evaluator cannot put its acknowledgement in the Redis transaction, so it acknowledges
    after the commit and relies on the device state's event ids for a re-delivery."""

    def __init__(self, inner: RedisEventStream):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)


class Crash(Exception):
    pass


class RaisingHook(CrashHook):
    def __call__(self, point: str) -> None:
        if point == self.point:
            self.count -= 1
            if self.count <= 0:
                raise Crash(point)


@pytest.mark.parametrize("crash", ["evaluated:2", "committed:1", "committed:3"])
def test_a_stream_acknowledged_after_the_commit_is_idempotent_on_redelivery(
    crash, reference, redis_client, keys
):
    _publish(redis_client, keys)
    rules = load_rules(ROOT)

    def evaluator(hook: CrashHook) -> Evaluator:
        stream = OtherStream(RedisEventStream(redis_client, keys))
        return Evaluator(redis_client, keys, stream, rules, clock=lambda: T, consumer="c1",
                         crash=hook)  # fmt: skip

    with pytest.raises(Crash):
        evaluator(RaisingHook(crash)).run(once=True, count=4, block_ms=0)
    evaluator(CrashHook(None)).run(once=True, count=4, block_ms=0)
    assert rt_snapshot(redis_client, keys) == reference
    assert RedisEventStream(redis_client, keys).lag(EVALUATOR_GROUP) == 0
