"""The Redis Streams implementation of the event stream, on a real Redis server."""

from __future__ import annotations

import json

from audiences.realtime.stream import RedisEventStream


def _event(i: int) -> dict:
    return {
        "event_id": f"e{i}",
        "anonymous_id": "a1",
        "event_type": "page_view",
        "occurred_at": f"2026-11-24T10:00:{i:02d}",
    }


def test_publish_is_idempotent_on_event_id_and_keeps_order(redis_client, keys):
    stream = RedisEventStream(redis_client, keys)
    assert stream.publish([_event(1), _event(2)]) == 2
    assert stream.publish([_event(2), _event(3), _event(3)]) == 1
    stream.ensure_group("g")
    got = stream.read("g", "c1", count=10)
    assert [e.event["event_id"] for e in got] == ["e1", "e2", "e3"]


def test_unacknowledged_entries_come_back_as_pending_after_a_restart(redis_client, keys):
    stream = RedisEventStream(redis_client, keys)
    stream.publish([_event(i) for i in range(5)])
    stream.ensure_group("g")
    stream.ensure_group("g")  # a second start is not an error
    first = stream.read("g", "c1", count=3)
    stream.ack("g", [first[0].entry_id])
    assert stream.lag("g") == 4  # 2 pending + 2 never delivered
    # "restart": the same consumer asks for what it was given and never acknowledged
    again = stream.read("g", "c1", count=10, pending=True)
    assert [e.event["event_id"] for e in again] == ["e1", "e2"]
    rest = stream.read("g", "c1", count=10)
    assert [e.event["event_id"] for e in rest] == ["e3", "e4"]
    stream.ack("g", [e.entry_id for e in again + rest])
    assert stream.lag("g") == 0
    assert stream.read("g", "c1", count=10, pending=True) == []


def test_entries_leave_the_stream_once_every_group_acknowledged_them(redis_client, keys):
    stream = RedisEventStream(redis_client, keys)
    stream.publish([_event(i) for i in range(6)])
    stream.ensure_group("evaluator")
    # a consumer group that does not exist yet would read from the start: nothing goes
    assert stream.trim_acknowledged(["evaluator", "loader"]) == 0
    stream.ensure_group("loader")
    first = stream.read("evaluator", "c", count=4)
    stream.ack("evaluator", [e.entry_id for e in first])  # e0..e3 done by the evaluator
    loaded = stream.read("loader", "c", count=3)
    stream.ack("loader", [loaded[0].entry_id, loaded[2].entry_id])  # e1 still pending
    assert stream.trim_acknowledged(["evaluator", "loader"]) == 1  # only e0: both acked
    ids = [json.loads(fields["e"])["event_id"] for _, fields in redis_client.xrange(keys.events)]
    assert ids == ["e1", "e2", "e3", "e4", "e5"]
    stream.ack("loader", [loaded[1].entry_id])  # e0..e2 loaded
    assert stream.trim_acknowledged(["evaluator", "loader"]) == 2  # e1, e2
    rest = stream.read("loader", "c", count=10) + stream.read("evaluator", "c", count=10)
    stream.ack("loader", [e.entry_id for e in rest if e.event["event_id"] != "e5"])
    stream.ack("evaluator", [e.entry_id for e in rest])
    # the loader has e5 delivered but not acknowledged: e3, e4 go, e5 stays
    assert stream.trim_acknowledged(["evaluator", "loader"]) == 2
    assert [json.loads(f["e"])["event_id"] for _, f in redis_client.xrange(keys.events)] == ["e5"]
