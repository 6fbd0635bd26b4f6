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

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter

from audiences.realtime.evaluator.device import PersonEvent, md5_hex
from audiences.realtime.evaluator.rules import (
    BatchOnlyLeaf,
    EventsLeaf,
    Group,
    ReferenceLeaf,
    Rule,
    RuleSet,
    SequenceLeaf,
)
from audiences.realtime.evaluator.timeline import Timeline

Events = Timeline | Sequence[PersonEvent]  # a plain sequence is sorted first

DAY_US = 86_400_000_000
_time = attrgetter("t")


def _measure(measure: str, events: list[PersonEvent]) -> float:
    if measure == "count":
        return float(len(events))
    if measure == "distinct_products":
        return float(len({e.column("product_id") for e in events} - {None}))
    if measure == "distinct_categories":
        return float(len({e.column("product_category") for e in events} - {None}))
    if measure == "distinct_days":
        return float(len({e.t // DAY_US for e in events}))
    if measure == "distinct_sessions":
        return float(len({e.session_id for e in events}))
    raise ValueError(f"unknown measure {measure}")


def events_leaf(leaf: EventsLeaf, events: Events, as_of: int) -> bool:
    matching = Timeline.of(events).matching(leaf.where, as_of - leaf.within_s * 1_000_000, as_of)
    if leaf.per is None:
        return leaf.comparison.holds(_measure(leaf.measure, matching) if matching else 0.0)
    per = leaf.per
    if per == "session_id":
        values: list[str | None] = [e.session_id for e in matching]
    else:
        values = [e.event.fields.get(per) for e in matching]
    if leaf.measure == "count":
        counts = Counter(values)
        counts.pop(None, None)
        return any(leaf.comparison.holds(float(n)) for n in counts.values())
    groups: dict[str, list[PersonEvent]] = {}
    for e, value in zip(matching, values, strict=True):
        if value is not None:
            groups.setdefault(value, []).append(e)
    return any(leaf.comparison.holds(_measure(leaf.measure, g)) for g in groups.values())


def _same(a: PersonEvent, b: PersonEvent, columns: Iterable[str]) -> bool:
    for column in columns:
        va, vb = a.column(column), b.column(column)
        if va is None or vb is None or va != vb:
            return False
    return True


def sequence_leaf(leaf: SequenceLeaf, events: Events, as_of: int) -> bool:
    timeline = Timeline.of(events)

    def step_events(index: int) -> list[PersonEvent]:
        step = leaf.steps[index]
        after = None if step.window_s is None else as_of - step.window_s * 1_000_000
        return timeline.matching(step.where, after, as_of)

    positives = [i for i, s in enumerate(leaf.steps) if not s.absent]
    reached = step_events(0)
    for i in positives[1:]:
        step = leaf.steps[i]
        limit = step.within_s * 1_000_000
        reached = [
            e
            for e in step_events(i)
            if any(0 <= e.t - p.t <= limit and _same(e, p, step.same) for p in reached)
        ]
        if not reached:
            return False
    absent = [s for s in leaf.steps if s.absent]
    if not absent:
        return bool(reached)
    step = absent[0]
    limit = step.within_s * 1_000_000
    blockers = step_events(len(leaf.steps) - 1)
    # anchors at least `within` before T (a prefix: steps' events are in time order), each
    # blocked by a matching event 0 to `within` after it
    for anchor in reached[: bisect_right(reached, as_of - limit, key=_time)]:
        first = bisect_left(blockers, anchor.t, key=_time)
        last = bisect_right(blockers, anchor.t + limit, lo=first, key=_time)
        if not any(_same(b, anchor, step.same) for b in blockers[first:last]):
            return True
    return False


class Evaluation:
    """Evaluates every streamable segment for one person at one instant."""

    def __init__(
        self,
        rules: RuleSet,
        events: Events,
        as_of: int,
        batch_keys: set[str],
    ):
        self.rules = rules
        self.events = Timeline.of(events)
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


def next_change(rules: RuleSet, events: Events, as_of: int) -> int | None:
    """The first instant after ``as_of`` at which an answer may change: an event enters a
    window (its own time) or leaves one / lets an absent step elapse (its time plus any
    window or within of the rules)."""
    timeline = Timeline.of(events)
    best: int | None = None
    for duration in (0, *(d * 1_000_000 for d in rules.durations_s)):
        # the earliest event whose time + duration is after as_of
        first = timeline.first_after(as_of - duration)
        if first is not None and (best is None or first + duration < best):
            best = first + duration
    return best
