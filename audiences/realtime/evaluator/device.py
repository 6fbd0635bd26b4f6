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


@dataclass(frozen=True)
class PersonEvent:
    """An event of the person with the session the batch gives it."""

    event: Event
    session_id: str

    def column(self, name: str) -> str | None:
        if name == "session_id":
            return self.session_id
        return self.event.fields.get(name)


@dataclass
class Sessionized:
    session_of: dict[str, str]  # event_id -> session_id
    person_of_session: dict[str, str]
    session_start: dict[str, int]
    # person -> their events with their session ids (filled once by by_person()), and the
    # start of their first session, archived ones included (once by first_start())
    _by_person: dict[str, list[PersonEvent]] | None = field(default=None, repr=False)
    _first_start: dict[str, int] | None = field(default=None, repr=False)

    def person_of(self, event: Event) -> str:
        return self.person_of_session[self.session_of[event.event_id]]

    def by_person(self, events: list[Event]) -> dict[str, list[PersonEvent]]:
        """The device's ``events`` (those this was computed from) grouped by person."""
        if self._by_person is None:
            grouped: dict[str, list[PersonEvent]] = {}
            person_of_session, session_of = self.person_of_session, self.session_of
            for event in events:
                sid = session_of[event.event_id]
                grouped.setdefault(person_of_session[sid], []).append(PersonEvent(event, sid))
            self._by_person = grouped
        return self._by_person

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
    anonymous_id: str
    events: list[Event] = field(default_factory=list)  # sorted by (t, event_id)
    users: list[str] = field(default_factory=list)  # sorted, every user ever identified
    archived: dict[str, ArchivedSession] = field(default_factory=dict)
    tail: Tail | None = None
    persons: list[str] = field(default_factory=list)  # persons this device contributes to
    _ids: set[str] | None = field(default=None, repr=False, compare=False)
    stored: bool = field(default=False, repr=False, compare=False)  # read from Redis
    # the last sessionize() answer and its inactivity gap; every change forgets it
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
        self._sessions = None
        if event.user_id is not None and event.user_id not in self.users:
            self.users.append(event.user_id)
            self.users.sort()
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
        bisect.insort(self.events, event, key=lambda e: (e.t, e.event_id))
        return True

    @property
    def device_user(self) -> str | None:
        return self.users[0] if len(self.users) == 1 else None

    # --- sessions and persons -------------------------------------------------------------
    def sessionize(self, inactivity_seconds: int) -> Sessionized:
        """The device's sessions and their persons (kept until the state changes)."""
        if self._sessions is not None and self._sessions[0] == inactivity_seconds:
            return self._sessions[1]
        sessions = self._sessionize(inactivity_seconds)
        self._sessions = (inactivity_seconds, sessions)
        return sessions

    def _sessionize(self, inactivity_seconds: int) -> Sessionized:
        anon = self.anonymous_id
        tracker_sids: dict[str, str] = {}
        gap = inactivity_seconds * 1_000_000
        session_of: dict[str, str] = {}
        starts: dict[str, int] = {sid: s.start for sid, s in self.archived.items()}
        last: dict[str, LastUser | None] = {sid: s.last_user for sid, s in self.archived.items()}
        tail = self.tail
        prev_t = tail.t if tail else None
        latest = tail.campaign if tail else None
        current = tail.session_id if tail else None
        for event in self.events:
            tracker = event.tracker_session_id
            if tracker is not None:
                sid = tracker_sids.get(tracker)
                if sid is None:
                    sid = tracker_sids[tracker] = md5_hex(f"tracker|{anon}|{tracker}")
            else:
                key = event.campaign_key
                if (
                    prev_t is None
                    or event.t - prev_t > gap
                    or (key is not None and key != (latest or ""))
                    or current is None
                ):
                    current = md5_hex(f"derived|{anon}|{event.event_id}")
                sid = current
                prev_t = event.t
                if key is not None:
                    latest = key
            session_of[event.event_id] = sid
            starts[sid] = min(starts.get(sid, event.t), event.t)
            if event.user_id is not None:
                candidate = (event.t, event.event_id, event.user_id)
                if last.get(sid) is None or candidate > last[sid]:  # type: ignore[operator]
                    last[sid] = candidate
            else:
                last.setdefault(sid, None)
        fallback = self.device_user or anon
        person_of_session = {sid: (lu[2] if lu else fallback) for sid, lu in last.items()}
        return Sessionized(session_of, person_of_session, starts)

    def person_set(self, inactivity_seconds: int) -> list[str]:
        return sorted(set(self.sessionize(inactivity_seconds).person_of_session.values()))

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

    # --- serialisation --------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "e": [e.to_json() for e in self.events],
            "u": self.users,
            "a": self.to_json_archive(),
            "t": self._tail_json(),
            "p": self.persons,
        }

    def dumps(self) -> bytes:
        """The state as stored in Redis: compact JSON (orjson), the same bytes as
        ``orjson.dumps(self.to_json())``. Each event's JSON is kept on the event and the
        archive's until the archive changes, so a state written again after a new event
        costs little more than that event."""
        if self._archive_json is None:
            self._archive_json = orjson.dumps(self.to_json_archive())
        rest = orjson.dumps(
            {
                "u": self.users,
                "a": orjson.Fragment(self._archive_json),
                "t": self._tail_json(),
                "p": self.persons,
            }
        )
        return b'{"e":[' + b",".join(e.json_bytes for e in self.events) + b"]," + rest[1:]

    def _tail_json(self) -> list[Any] | None:
        tail = self.tail
        return [tail.t, tail.event_id, tail.campaign, tail.session_id] if tail else None

    def to_json_archive(self) -> dict[str, Any]:
        return {
            sid: [s.start, list(s.last_user) if s.last_user else None]
            for sid, s in self.archived.items()
        }

    @classmethod
    def loads(cls, anonymous_id: str, raw: str | bytes | None) -> DeviceState:
        """The state stored under the device's key; an empty state when there is none."""
        if not raw:
            return cls(anonymous_id)
        state = cls.from_json(anonymous_id, orjson.loads(raw))
        state.stored = True
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
