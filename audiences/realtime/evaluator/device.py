"""One device's state: its events in the retention horizon, the users identified on it,
and its sessions and person assignment exactly as the batch derives them
(int_identity__device_users, int_tracker__sessionized_events; decision 0001).

- De-duplication by (anonymous_id, event_id): the first delivery is kept.
- Sessions: the tracker's session id (``md5('tracker|' || anonymous_id || '|' || id)``), else
  a new derived session on the device's first untracked event, after a gap of more than
  ``session_inactivity_seconds`` between untracked events, or when an event's campaign key
  differs from the latest one seen on the device (``md5('derived|' || anonymous_id || '|' ||
  first event_id)``); ties in time broken by event_id.
- Person of an event: the user identified last in its session, else the device's user when
  exactly one user was ever identified on the device, else the anonymous id.

Events older than the horizon are archived whole session by whole session: the archive keeps
each session's start and last identified user, and the untracked tail (last event, latest
campaign) so later sessions are derived as if the archived events were still there.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from audiences.realtime.evaluator.normalize import Event

LastUser = tuple[int, str, str]  # (occurred_at, event_id, user_id): max = identified last


def md5_hex(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


@dataclass
class ArchivedSession:
    start: int
    last_user: LastUser | None


@dataclass
class Tail:
    """The last archived untracked event and the latest campaign key up to it."""

    t: int
    event_id: str
    campaign: str | None
    session_id: str


class PersonEvent:
    """An event of the person with the session the batch gives it (``t``: its time)."""

    __slots__ = ("event", "session_id", "t")

    def __init__(self, event: Event, session_id: str):
        self.event = event
        self.session_id = session_id
        self.t = event.t

    def column(self, name: str) -> str | None:
        if name == "session_id":
            return self.session_id
        return self.event.fields.get(name)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, PersonEvent)
            and self.event == other.event
            and self.session_id == other.session_id
        )

    def __repr__(self) -> str:
        return f"PersonEvent({self.event.event_id!r}, {self.session_id!r})"


class Sessionized:
    """A device's sessions and their persons, derived event by event in time order.

    Built once from the archive and the device's events, then kept up to date while events
    arrive after the device's last one (the common case: a visitor's next click), so a batch
    costs what it adds, not what the device holds. An event anywhere else, or a user new to
    the device (who may change the device's user), makes the device derive it all again."""

    def __init__(
        self,
        anonymous_id: str,
        gap_us: int,
        archived: dict[str, ArchivedSession],
        tail: Tail | None,
        fallback: str,
    ):
        self.anonymous_id = anonymous_id
        self.gap_us = gap_us
        self.fallback = fallback  # the person of a session nobody identified in
        self.session_of: dict[str, str] = {}  # event_id -> session_id
        self.session_start: dict[str, int] = {sid: s.start for sid, s in archived.items()}
        self._last: dict[str, LastUser | None] = {sid: s.last_user for sid, s in archived.items()}
        self.person_of_session: dict[str, str] = {
            sid: (lu[2] if lu else fallback) for sid, lu in self._last.items()
        }
        self._sessions_of_person: dict[str, int] = {}
        for person in self.person_of_session.values():
            self._sessions_of_person[person] = self._sessions_of_person.get(person, 0) + 1
        self._tracker_sids: dict[str, str] = {}
        self._prev_t = tail.t if tail else None
        self._latest = tail.campaign if tail else None
        self._current = tail.session_id if tail else None
        # person -> their events with their session ids, in time order; and the start of
        # their first session (archived ones included): built on first use, then kept
        self._by_person: dict[str, list[PersonEvent]] | None = None
        self._first_start: dict[str, int] | None = None
        # person -> what the rules' filters found in their events (timeline.py); lives and
        # dies with _by_person
        self._answers: dict[str, dict[int, Any]] = {}

    def append(self, event: Event) -> None:
        """Adds an event later than every event added before."""
        tracker = event.tracker_session_id
        if tracker is not None:
            sid = self._tracker_sids.get(tracker)
            if sid is None:
                sid = self._tracker_sids[tracker] = md5_hex(
                    f"tracker|{self.anonymous_id}|{tracker}"
                )
        else:
            key = event.campaign_key
            if (
                self._prev_t is None
                or event.t - self._prev_t > self.gap_us
                or (key is not None and key != (self._latest or ""))
                or self._current is None
            ):
                self._current = md5_hex(f"derived|{self.anonymous_id}|{event.event_id}")
            sid = self._current
            self._prev_t = event.t
            if key is not None:
                self._latest = key
        self.session_of[event.event_id] = sid
        start = self.session_start.get(sid)
        if start is None or event.t < start:
            self.session_start[sid] = event.t
        last = self._last.get(sid)
        if event.user_id is not None:
            candidate = (event.t, event.event_id, event.user_id)
            if last is None or candidate > last:
                self._last[sid] = last = candidate
        elif sid not in self._last:
            self._last[sid] = None
        person = last[2] if last else self.fallback
        before = self.person_of_session.get(sid)
        if before != person:
            self.person_of_session[sid] = person
            counts = self._sessions_of_person
            counts[person] = counts.get(person, 0) + 1
            if before is not None:
                counts[before] -= 1
                if not counts[before]:
                    del counts[before]
                # the session's earlier events now belong to someone else
                self._by_person = None
                self._first_start = None
                self._answers = {}
        if self._by_person is not None:
            self._by_person.setdefault(person, []).append(PersonEvent(event, sid))
        if self._first_start is not None:
            start = self.session_start[sid]
            if start < self._first_start.get(person, start + 1):
                self._first_start[person] = start

    def person_of(self, event: Event) -> str:
        return self.person_of_session[self.session_of[event.event_id]]

    def persons(self) -> list[str]:
        """Every person one of the device's sessions belongs to, sorted."""
        return sorted(self._sessions_of_person)

    def by_person(self, events: list[Event]) -> dict[str, list[PersonEvent]]:
        """The device's ``events`` (those this was computed from) grouped by person."""
        if self._by_person is None:
            grouped: dict[str, list[PersonEvent]] = {}
            person_of_session, session_of = self.person_of_session, self.session_of
            for event in events:
                sid = session_of[event.event_id]
                grouped.setdefault(person_of_session[sid], []).append(PersonEvent(event, sid))
            self._by_person = grouped
            self._answers = {}
        return self._by_person

    def answers(self, person: str) -> dict[int, Any]:
        """Where the rules keep what their filters found in the person's events on this
        device (timeline.py): valid while ``by_person`` gives the same, growing list."""
        return self._answers.setdefault(person, {})

    def first_start(self, person: str) -> int | None:
        """When the person's first session on the device started (None: no session)."""
        if self._first_start is None:
            first: dict[str, int] = {}
            for sid, start in self.session_start.items():
                owner = self.person_of_session[sid]
                if start < first.get(owner, start + 1):
                    first[owner] = start
            self._first_start = first
        return self._first_start.get(person)


@dataclass
class DeviceState:
    """A device's state. In Redis it is two keys (state_keys.py): the device's metadata (its
    users, archive, tail and persons: :meth:`dumps`) and its events, a list that a batch
    only appends to (``unsaved``) unless it removed events (``rewrite``: the archive took
    some, or the state was stored whole by an earlier version)."""

    anonymous_id: str
    events: list[Event] = field(default_factory=list)  # sorted by (t, event_id)
    users: list[str] = field(default_factory=list)  # sorted, every user ever identified
    archived: dict[str, ArchivedSession] = field(default_factory=dict)
    tail: Tail | None = None
    persons: list[str] = field(default_factory=list)  # persons this device contributes to
    _ids: set[str] | None = field(default=None, repr=False, compare=False)
    stored: bool = field(default=False, repr=False, compare=False)  # read from Redis
    # the events added since the state was stored; whether the stored list must be replaced;
    # the metadata as stored
    unsaved: list[Event] = field(default_factory=list, repr=False, compare=False)
    rewrite: bool = field(default=False, repr=False, compare=False)
    stored_meta: bytes | None = field(default=None, repr=False, compare=False)
    # the sessions and their inactivity gap, kept up to date as events arrive in order
    _sessions: tuple[int, Sessionized] | None = field(default=None, repr=False, compare=False)
    # the archive as JSON, kept until archive() changes it
    _archive_json: bytes | None = field(default=None, repr=False, compare=False)

    # --- updates --------------------------------------------------------------------------
    def add(self, event: Event) -> bool:
        """Adds a delivery; False when the event is already held (a re-delivery) or is an
        untracked event at or before the archive's tail: its derived session cannot be
        re-derived any more, so only its user id counts (a late event beyond the horizon,
        older than every window). Anything after the tail is kept, however old: the next
        ``archive`` folds it into the archive exactly (history replayed in order)."""
        if event.user_id is not None and event.user_id not in self.users:
            self.users.append(event.user_id)
            self.users.sort()
            self._sessions = None  # the device's user may have changed
        tail = self.tail
        if (
            event.tracker_session_id is None
            and tail is not None
            and (event.t, event.event_id) <= (tail.t, tail.event_id)
        ):
            return False
        if self._ids is None:
            self._ids = {e.event_id for e in self.events}
        if event.event_id in self._ids:
            return False
        self._ids.add(event.event_id)
        events = self.events
        if not events or (event.t, event.event_id) > (events[-1].t, events[-1].event_id):
            events.append(event)
            if self._sessions is not None:
                self._sessions[1].append(event)
        else:
            bisect.insort(events, event, key=lambda e: (e.t, e.event_id))
            self._sessions = None
        self.unsaved.append(event)
        return True

    @property
    def device_user(self) -> str | None:
        return self.users[0] if len(self.users) == 1 else None

    # --- sessions and persons -------------------------------------------------------------
    def sessionize(self, inactivity_seconds: int) -> Sessionized:
        """The device's sessions and their persons (kept up to date while events arrive
        after the device's last one; derived again after any other change)."""
        if self._sessions is not None and self._sessions[0] == inactivity_seconds:
            return self._sessions[1]
        sessions = Sessionized(
            self.anonymous_id,
            inactivity_seconds * 1_000_000,
            self.archived,
            self.tail,
            self.device_user or self.anonymous_id,
        )
        for event in self.events:
            sessions.append(event)
        self._sessions = (inactivity_seconds, sessions)
        return sessions

    def person_set(self, inactivity_seconds: int) -> list[str]:
        return self.sessionize(inactivity_seconds).persons()

    def archive(self, horizon: int, inactivity_seconds: int) -> None:
        """Moves the sessions whose every event is older than ``horizon`` to the archive."""
        if not self.events or self.events[0].t >= horizon:
            return  # events are sorted by time: no session ends before the horizon
        sessions = self.sessionize(inactivity_seconds)
        ends: dict[str, int] = {}
        for event in self.events:
            sid = sessions.session_of[event.event_id]
            ends[sid] = max(ends.get(sid, event.t), event.t)
        old = {sid for sid, end in ends.items() if end < horizon}
        if not old:
            return
        for event in self.events:
            sid = sessions.session_of[event.event_id]
            if sid not in old:
                continue
            entry = self.archived.setdefault(sid, ArchivedSession(event.t, None))
            entry.start = min(entry.start, event.t)
            if event.user_id is not None:
                candidate = (event.t, event.event_id, event.user_id)
                if entry.last_user is None or candidate > entry.last_user:
                    entry.last_user = candidate
            if event.tracker_session_id is None:
                key = event.campaign_key
                campaign = key if key is not None else (self.tail.campaign if self.tail else None)
                self.tail = Tail(event.t, event.event_id, campaign, sid)
        self.events = [e for e in self.events if sessions.session_of[e.event_id] not in old]
        self._ids = None
        self._sessions = None
        self._archive_json = None
        self.rewrite = True  # the stored list loses the archived events

    # --- serialisation --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The whole state as one document (events included)."""
        return {
            "e": [e.to_json() for e in self.events],
            "u": self.users,
            "a": self.to_json_archive(),
            "t": self._tail_json(),
            "p": self.persons,
        }

    def dumps(self) -> bytes:
        """The device's metadata as stored in Redis (compact JSON: users, archive, tail,
        persons); the events are stored apart (:meth:`event_writes`). The archive's JSON
        is kept until the archive changes."""
        if self._archive_json is None:
            self._archive_json = orjson.dumps(self.to_json_archive())
        return orjson.dumps(
            {
                "u": self.users,
                "a": orjson.Fragment(self._archive_json),
                "t": self._tail_json(),
                "p": self.persons,
            }
        )

    def event_writes(self) -> tuple[bool, list[bytes]]:
        """How the stored event list catches up: (replace it whole?, the events to append)."""
        if self.rewrite:
            return True, [e.json_bytes for e in self.events]
        return False, [e.json_bytes for e in self.unsaved]

    def saved(self, meta: bytes) -> None:
        """The state was written (``meta``: the metadata as written)."""
        self.stored = True
        self.stored_meta = meta
        self.unsaved = []
        self.rewrite = False

    def _tail_json(self) -> list[Any] | None:
        tail = self.tail
        return [tail.t, tail.event_id, tail.campaign, tail.session_id] if tail else None

    def to_json_archive(self) -> dict[str, Any]:
        return {
            sid: [s.start, list(s.last_user) if s.last_user else None]
            for sid, s in self.archived.items()
        }

    @classmethod
    def loads(
        cls,
        anonymous_id: str,
        meta: str | bytes | None,
        events: Sequence[str | bytes] = (),
    ) -> DeviceState:
        """The state stored under the device's two keys; an empty state when there is none.
        Metadata that still holds the events (``"e"``, an earlier version) is read too, and
        the next write stores them as a list."""
        if not meta and not events:
            return cls(anonymous_id)
        data = orjson.loads(meta) if meta else {}
        legacy = data.get("e")
        stored = [orjson.loads(e) for e in events]
        if legacy:
            stored += legacy
        state = cls.from_json(anonymous_id, {**data, "e": stored})
        state.events.sort(key=lambda e: (e.t, e.event_id))
        state.stored = True
        state.rewrite = bool(legacy)
        state.stored_meta = meta.encode() if isinstance(meta, str) else meta
        return state

    @classmethod
    def from_json(cls, anonymous_id: str, data: dict[str, Any]) -> DeviceState:
        tail = data.get("t")
        return cls(
            anonymous_id=anonymous_id,
            events=[Event.from_json(anonymous_id, e) for e in data.get("e", [])],
            users=list(data.get("u", [])),
            archived={
                sid: ArchivedSession(v[0], tuple(v[1]) if v[1] else None)  # type: ignore[arg-type]
                for sid, v in (data.get("a") or {}).items()
            },
            tail=Tail(tail[0], tail[1], tail[2], tail[3]) if tail else None,
            persons=list(data.get("p", [])),
        )
