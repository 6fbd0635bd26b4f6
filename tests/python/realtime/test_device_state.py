"""A device's state (device.py): sessions kept up to date event by event equal the sessions
derived from scratch, whatever the order and kind of the events; and what a batch writes to
Redis: only the new events, the whole list after the archive took some, and a state stored
whole by an earlier version read and converted."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audiences.realtime.evaluator.device import DeviceState
from audiences.realtime.evaluator.normalize import Event, normalize, to_micros

T0 = datetime(2026, 11, 20, 12, 0, 0)
GAP_S = 1800


def event(i: int, minute: float, **fields: str | None) -> Event:
    raw = {
        "event_id": f"e{i:03d}",
        "anonymous_id": "a1",
        "event_type": "page_view",
        "occurred_at": (T0 + timedelta(minutes=minute)).isoformat(),
        **fields,
    }
    return normalize(raw)


def sessions_view(device: DeviceState) -> dict[str, object]:
    """Everything the evaluator reads from a device's sessions, as plain values."""
    s = device.sessionize(GAP_S)
    persons = s.persons()
    return {
        "session_of": dict(s.session_of),
        "person_of_session": dict(s.person_of_session),
        "session_start": dict(s.session_start),
        "persons": persons,
        "by_person": {
            p: [(e.event.event_id, e.session_id) for e in evs]
            for p, evs in s.by_person(device.events).items()
        },
        "first_start": {p: s.first_start(p) for p in persons},
    }


def from_scratch(device: DeviceState) -> DeviceState:
    fresh = DeviceState.from_json(device.anonymous_id, device.to_json())
    return fresh


one_event = st.fixed_dictionaries(
    {
        "minute": st.sampled_from([0, 1, 5, 29, 30, 31, 45, 61, 62, 120, 200]),
        "user_id": st.sampled_from([None, None, None, "u1", "u2"]),
        "session_id": st.sampled_from([None, None, None, "t1", "t2"]),
        "utm_source": st.sampled_from([None, None, None, "mail", "ads"]),
    }
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(one_event, min_size=1, max_size=14), st.data())
def test_sessions_kept_up_to_date_equal_sessions_derived_from_scratch(drawn, data):
    device = DeviceState("a1")
    for i, spec in enumerate(drawn):
        minute = spec.pop("minute")
        device.add(event(i, minute, **spec))
        # the evaluator reads the sessions, their persons and groups between batches
        if data.draw(st.booleans()):
            sessions_view(device)
        assert sessions_view(device) == sessions_view(from_scratch(device))


def test_events_in_order_extend_the_sessions_others_derive_them_again():
    device = DeviceState("a1")
    device.add(event(1, 0))
    first = device.sessionize(GAP_S)
    device.add(event(2, 10))  # after the last event: the same object, extended
    assert device.sessionize(GAP_S) is first
    device.add(event(3, 5))  # a late event: derived again
    assert device.sessionize(GAP_S) is not first
    again = device.sessionize(GAP_S)
    device.add(event(4, 20, user_id="u1"))  # a user new to the device: derived again
    assert device.sessionize(GAP_S) is not again


def test_a_batch_writes_only_its_new_events_then_the_whole_list_after_an_archive():
    device = DeviceState("a1")
    device.add(event(1, 0))
    device.add(event(2, 10))
    assert device.event_writes() == (False, [e.json_bytes for e in device.events])
    device.saved(device.dumps())
    assert device.event_writes() == (False, [])
    late = event(3, 5)
    device.add(late)
    device.add(event(2, 10))  # a re-delivery adds nothing
    assert device.event_writes() == (False, [late.json_bytes])
    device.saved(device.dumps())
    # two hours later the first session (events 1, 3, 2) is older than a one-hour horizon
    device.add(event(4, 120))
    device.archive(to_micros(T0 + timedelta(minutes=60)), GAP_S)
    assert [e.event_id for e in device.events] == ["e004"]
    assert device.event_writes() == (True, [device.events[0].json_bytes])


def test_the_stored_state_reads_back_sorted_and_a_state_stored_whole_is_converted():
    device = DeviceState("a1")
    for i, minute in ((1, 10), (2, 0), (3, 5)):  # arrive out of order
        device.add(event(i, minute, user_id="u1" if i == 3 else None))
    device.persons = device.person_set(GAP_S)
    meta = device.dumps()
    stored_list = [e.json_bytes for e in device.unsaved]  # the list, in arrival order
    back = DeviceState.loads("a1", meta.decode(), [b.decode() for b in stored_list])
    assert [e.event_id for e in back.events] == ["e002", "e003", "e001"]
    assert back.to_json() == device.to_json()
    assert back.event_writes() == (False, []) and back.stored_meta == meta
    # an earlier version stored the events inside the metadata: read, then written as a list
    legacy = orjson.dumps(device.to_json()).decode()
    old = DeviceState.loads("a1", legacy)
    assert old.to_json() == device.to_json()
    replace, values = old.event_writes()
    assert replace and values == [e.json_bytes for e in old.events]
    assert old.dumps() == meta and old.stored_meta != meta  # the metadata is written again
