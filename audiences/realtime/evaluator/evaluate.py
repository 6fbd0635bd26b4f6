"""A person's memberships at instant T, with the semantics of the compiled SQL
(macros/segments/rules/conditions.sql; docs/segments.md):

- windows are ``(T - w, T]`` to the microsecond; events after T are ignored;
- a filter on a null column is false (``coalesce(col = v, false)``), ``not`` included;
- ``events`` without ``per``: no matching event means the measure is 0; with ``per``: the
  measure per non-null value, true when one value satisfies the comparison, false without
  values;
- ``sequence``: step i's event 0 to ``within`` seconds after step i-1's (both ends included),
  ``same`` columns equal and non-null, windows on their steps; an ``absent`` last step needs
  ``T - anchor >= within`` and no matching event 0 to ``within`` seconds after the anchor
  with the anchor's ``same`` values;
- references: custom streamable segments by their full membership (holdout included), other
  keys from the batch cache.

A person the batch does not know yet (no event at or before T) is a member of nothing.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from functools import lru_cache

from audiences.realtime.evaluator.device import PersonEvent, md5_hex
from audiences.realtime.evaluator.rules import (
    BatchOnlyLeaf,
    EventsLeaf,
    Filter,
    Group,
    ReferenceLeaf,
    Rule,
    RuleSet,
    SequenceLeaf,
)

DAY_US = 86_400_000_000


@lru_cache(maxsize=1024)
def _like(pattern: str) -> re.Pattern[str]:
    parts = []
    for char in pattern:
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
    return re.compile("".join(parts), re.DOTALL)


def _matches(event: PersonEvent, filters: Sequence[Filter]) -> bool:
    """Whether the event passes every filter; remembered on the event (keyed by the filters'
    identity) unless a filter reads the session id, which a later batch can change."""
    key = id(filters)
    memo = event.event.matched
    found = memo.get(key)
    if found is None:
        found = _matches_now(event, filters)
        if _cacheable(filters):
            memo[key] = found
    return found


_CACHEABLE: dict[int, tuple[Sequence[Filter], bool]] = {}


def _cacheable(filters: Sequence[Filter]) -> bool:
    """Whether a match can be remembered; keeps ``filters`` alive so its id is never reused."""
    known = _CACHEABLE.get(id(filters))
    if known is None:
        known = (filters, all(f.column != "session_id" for f in filters))
        _CACHEABLE[id(filters)] = known
    return known[1]


def _matches_now(event: PersonEvent, filters: Iterable[Filter]) -> bool:
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


def _in_window(t: int, as_of: int, window_s: int) -> bool:
    return as_of - window_s * 1_000_000 < t <= as_of


def _measure(measure: str, events: list[PersonEvent]) -> float:
    if measure == "count":
        return float(len(events))
    if measure == "distinct_products":
        return float(len({e.column("product_id") for e in events} - {None}))
    if measure == "distinct_categories":
        return float(len({e.column("product_category") for e in events} - {None}))
    if measure == "distinct_days":
        return float(len({e.event.t // DAY_US for e in events}))
    if measure == "distinct_sessions":
        return float(len({e.session_id for e in events}))
    raise ValueError(f"unknown measure {measure}")


def events_leaf(leaf: EventsLeaf, events: list[PersonEvent], as_of: int) -> bool:
    matching = [
        e for e in events if _in_window(e.event.t, as_of, leaf.within_s) and _matches(e, leaf.where)
    ]
    if leaf.per is None:
        return leaf.comparison.holds(_measure(leaf.measure, matching) if matching else 0.0)
    groups: dict[str, list[PersonEvent]] = {}
    for e in matching:
        value = e.column(leaf.per)
        if value is not None:
            groups.setdefault(value, []).append(e)
    return any(leaf.comparison.holds(_measure(leaf.measure, g)) for g in groups.values())


def _same(a: PersonEvent, b: PersonEvent, columns: Iterable[str]) -> bool:
    for column in columns:
        va, vb = a.column(column), b.column(column)
        if va is None or vb is None or va != vb:
            return False
    return True


def sequence_leaf(leaf: SequenceLeaf, events: list[PersonEvent], as_of: int) -> bool:
    def step_events(index: int) -> list[PersonEvent]:
        step = leaf.steps[index]
        return [
            e
            for e in events
            if e.event.t <= as_of
            and _matches(e, step.where)
            and (step.window_s is None or _in_window(e.event.t, as_of, step.window_s))
        ]

    positives = [i for i, s in enumerate(leaf.steps) if not s.absent]
    reached = step_events(0)
    for i in positives[1:]:
        step = leaf.steps[i]
        limit = step.within_s * 1_000_000
        reached = [
            e
            for e in step_events(i)
            if any(0 <= e.event.t - p.event.t <= limit and _same(e, p, step.same) for p in reached)
        ]
        if not reached:
            return False
    absent = [s for s in leaf.steps if s.absent]
    if not absent:
        return bool(reached)
    step = absent[0]
    limit = step.within_s * 1_000_000
    blockers = step_events(len(leaf.steps) - 1)
    for anchor in reached:
        if as_of - anchor.event.t < limit:
            continue
        if not any(
            0 <= b.event.t - anchor.event.t <= limit and _same(b, anchor, step.same)
            for b in blockers
        ):
            return True
    return False


class Evaluation:
    """Evaluates every streamable segment for one person at one instant."""

    def __init__(
        self,
        rules: RuleSet,
        events: list[PersonEvent],
        as_of: int,
        batch_keys: set[str],
    ):
        self.rules = rules
        self.events = events
        self.as_of = as_of
        self.batch_keys = batch_keys
        self.members: dict[str, bool] = {}

    def rule(self, rule: Rule) -> bool:
        if isinstance(rule, Group):
            if rule.kind == "all":
                return all(self.rule(c) for c in rule.children)
            if rule.kind == "any":
                return any(self.rule(c) for c in rule.children)
            return not self.rule(rule.children[0])
        if isinstance(rule, EventsLeaf):
            return events_leaf(rule, self.events, self.as_of)
        if isinstance(rule, SequenceLeaf):
            return sequence_leaf(rule, self.events, self.as_of)
        if isinstance(rule, ReferenceLeaf):
            found = self.members[rule.key] if rule.custom else rule.key in self.batch_keys
            return not found if rule.negate else found
        if isinstance(rule, BatchOnlyLeaf):
            raise ValueError(f"batch-only condition reached the evaluator: {rule.reason}")
        raise TypeError(f"unknown rule {rule!r}")

    def segments(self) -> set[str]:
        """The streamable segments the person is a member of (holdout included)."""
        for segment in self.rules.streamable:  # dependency order
            self.members[segment.name] = self.rule(segment.rule)
        return {name for name, member in self.members.items() if member}


def holdout_bucket(person_id: str, segment_key: str) -> float:
    """Decision 0004: first 8 hex digits of md5(person_id|segment_key) mod 10000 / 100."""
    return (int(md5_hex(f"{person_id}|{segment_key}")[:8], 16) % 10000) / 100.0


GLOBAL_HOLDOUT_KEY = "__global__"


def is_holdout(
    person_id: str, segment_key: str, holdout_percent: float, global_holdout_percent: float = 0.0
) -> bool:
    """The macro is_holdout: the segment's bucket below holdout_percent or, with the global
    holdout on (var global_holdout_percent > 0), the bucket of the pseudo segment key
    '__global__' below global_holdout_percent (docs/measurement.md)."""
    if global_holdout_percent > 0 and (
        holdout_bucket(person_id, GLOBAL_HOLDOUT_KEY) < global_holdout_percent
    ):
        return True
    return holdout_bucket(person_id, segment_key) < holdout_percent


def next_change(rules: RuleSet, events: list[PersonEvent], as_of: int) -> int | None:
    """The first instant after ``as_of`` at which an answer may change: an event enters a
    window (its own time) or leaves one / lets an absent step elapse (its time plus any
    window or within of the rules)."""
    times = sorted(e.event.t for e in events)
    best: int | None = None
    for duration in (0, *(d * 1_000_000 for d in rules.durations_s)):
        # the earliest event whose time + duration is after as_of
        index = bisect.bisect_right(times, as_of - duration)
        if index < len(times):
            candidate = times[index] + duration
            if best is None or candidate < best:
                best = candidate
    return best
