"""A person's timeline (timeline.py): the events a filter set finds, remembered while the
list grows at its end, are exactly the events a plain scan finds, for every window."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from audiences.realtime.evaluator.device import PersonEvent
from audiences.realtime.evaluator.normalize import normalize, to_micros
from audiences.realtime.evaluator.rules import Filter
from audiences.realtime.evaluator.timeline import Timeline, passes

T0 = datetime(2026, 11, 20, 12, 0, 0)
VIEWS = (Filter("event_type", "in", ("product_view",)),)
IN_SESSION = (Filter("session_id", "in", ("s2",)), Filter("page_url", "like", ("/p/%",)))


def pe(i: int, second: int, event_type: str, session: str, url: str | None = None):
    raw = {
        "event_id": f"e{i:03d}",
        "anonymous_id": "a1",
        "event_type": event_type,
        "page_url": url,
        "occurred_at": (T0 + timedelta(seconds=second)).isoformat(),
    }
    return PersonEvent(normalize(raw), session)


def at(second: int) -> int:
    return to_micros(T0 + timedelta(seconds=second))


def test_a_window_is_half_open_and_the_answers_grow_with_the_list():
    events = [
        pe(1, 0, "product_view", "s1"),
        pe(2, 10, "page_view", "s1"),
        pe(3, 20, "product_view", "s2", "/p/1"),
    ]
    timeline = Timeline(events)
    # (after, until]: the event at `after` is out, the one at `until` in
    assert [e.event.event_id for e in timeline.matching(VIEWS, at(0), at(20))] == ["e003"]
    assert [e.event.event_id for e in timeline.matching(VIEWS, None, at(19))] == ["e001"]
    assert timeline.answers[id(VIEWS)][0] == 3  # all three looked at once
    events.append(pe(4, 30, "product_view", "s2", "/p/2"))  # the next batch adds one
    assert [e.event.event_id for e in timeline.matching(VIEWS, at(0), at(30))] == [
        "e003",
        "e004",
    ]
    assert timeline.answers[id(VIEWS)][0] == 4
    assert [e.event.event_id for e in timeline.matching(IN_SESSION, None, at(30))] == [
        "e003",
        "e004",
    ]
    assert timeline.first_after(at(20)) == at(30)
    assert timeline.first_after(at(30)) is None


kinds = st.sampled_from(["product_view", "page_view", "add_to_cart"])
one = st.tuples(st.integers(0, 600), kinds, st.sampled_from(["s1", "s2"]))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(one, max_size=25),
    st.lists(st.tuples(st.integers(0, 8), st.integers(-10, 700), st.integers(0, 700))),
)
def test_remembered_answers_equal_a_plain_scan(drawn, asks):
    drawn.sort(key=lambda d: d[0])
    events = [pe(i, s, kind, session, f"/p/{i}") for i, (s, kind, session) in enumerate(drawn)]
    timeline = Timeline([])
    # the same events on two devices (by session), merged
    devices = {"s1": Timeline([]), "s2": Timeline([])}
    shown = 0
    for grow, after, until in asks:
        # the lists grow at their end between two questions, as a device's does
        for e in events[shown : shown + grow]:
            timeline.events.append(e)
            devices[e.session_id].events.append(e)
        shown = min(len(events), shown + grow)
        merged = Timeline.merge(list(devices.values()))
        for filters in (VIEWS, IN_SESSION):
            expected = [
                e for e in events[:shown] if at(after) < e.t <= at(until) and passes(e, filters)
            ]
            assert timeline.matching(filters, at(after), at(until)) == expected
            found = merged.matching(filters, at(after), at(until))
            assert [e.t for e in found] == [e.t for e in expected]
            assert sorted(found, key=ids) == sorted(expected, key=ids)


def ids(e: PersonEvent) -> str:
    return e.event.event_id
