"""The Redis Streams implementation of the event stream, on a real Redis server."""

from __future__ import annotations

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
