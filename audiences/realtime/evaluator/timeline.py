"""A person's events in time order, and those that pass each ``where`` of the rules.

A rule reads the events in a window that pass its filters. Scanning every event of the
person for every rule made a batch cost what the person holds (a busy visitor's hundreds of
events, each batch). Here the events passing a filter set are found once and kept, in time
order, where the person's events are kept (device.py, ``Sessionized``): a later batch only
looks at the events added since, and a window is two bisections.

The remembered answers live exactly as long as the person's list of events on one device:
it only grows by events later than all the others, and is built again (with empty answers)
whenever the device's sessions are derived again or a session changes hands. A person with
events on several devices has a timeline per device, merged when asked.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from functools import lru_cache
from operator import attrgetter

from audiences.realtime.evaluator.device import PersonEvent
from audiences.realtime.evaluator.rules import Filter

# filters' id -> (how many of the events were looked at, those that pass)
Answers = dict[int, tuple[int, list[PersonEvent]]]

_time = attrgetter("t")
# every filter set ever keyed by id, kept alive so that no other object reuses its id
_KEPT: dict[int, Sequence[Filter]] = {}


@lru_cache(maxsize=1024)
def _like(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def passes(event: PersonEvent, filters: Iterable[Filter]) -> bool:
    """Whether the event passes every filter (a null column passes none)."""
    for f in filters:
        value = event.column(f.column)
        if value is None:
            return False
        if f.op == "in" and value not in f.values:
            return False
        if f.op == "not_in" and value in f.values:
            return False
        if f.op == "like" and not _like(f.values[0]).fullmatch(value):
            return False
    return True


class Timeline:
    """``events`` sorted by time; ``answers`` the remembered matches for exactly this list
    (it may grow at the end between two calls, never change otherwise). A person with
    events on several devices has one timeline per device (``parts``), merged."""

    __slots__ = ("answers", "events", "parts")

    def __init__(
        self,
        events: list[PersonEvent],
        answers: Answers | None = None,
        parts: Sequence[Timeline] = (),
    ):
        self.events = events
        self.answers: Answers = {} if answers is None else answers
        self.parts = parts

    @classmethod
    def merge(cls, parts: Sequence[Timeline]) -> Timeline:
        """One timeline of several (each keeps its remembered answers)."""
        if len(parts) == 1:
            return parts[0]
        events = [e for part in parts for e in part.events]
        events.sort(key=_time)
        return cls(events, None, parts)

    @classmethod
    def of(cls, events: Timeline | Sequence[PersonEvent]) -> Timeline:
        """``events`` as a timeline (a plain sequence is sorted by time)."""
        if isinstance(events, Timeline):
            return events
        return cls(sorted(events, key=_time))

    def matching(
        self, filters: Sequence[Filter], after: int | None, until: int
    ) -> list[PersonEvent]:
        """The events in ``(after, until]`` (``after`` None: no lower bound) that pass every
        filter, in time order."""
        if self.parts:
            merged = [e for part in self.parts for e in part.matching(filters, after, until)]
            merged.sort(key=_time)
            return merged
        key = id(filters)
        if key not in _KEPT:
            _KEPT[key] = filters
        seen, found = self.answers.get(key) or (0, [])
        events = self.events
        if seen < len(events):
            found.extend(e for e in events[seen:] if passes(e, filters))
            self.answers[key] = (len(events), found)
        low = 0 if after is None else bisect_right(found, after, key=_time)
        return found[low : bisect_right(found, until, lo=low, key=_time)]

    def first_after(self, moment: int) -> int | None:
        """The time of the first event after ``moment`` (None: there is none)."""
        index = bisect_right(self.events, moment, key=_time)
        return self.events[index].t if index < len(self.events) else None
