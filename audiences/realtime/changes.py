"""The stream of segment entries and exits (``rt:changes``) behind one small interface.

The streaming evaluator appends one entry per change (fields ``person_id``, ``segment_key``,
``change`` = entered | exited, ``at``, and ``user_id``: the person's user id, empty for an
anonymous person). The trigger forwarder reads it as the consumer group ``triggers``;
:class:`ChangeStream` is all it knows of the stream, so a Kafka topic can replace it as
for the event stream (audiences/realtime/stream.py). Entries are acknowledged only once the
reader has durably recorded what it does with them (at-least-once delivery to the reader;
the trigger outbox makes a re-delivery a no-op).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import redis

from audiences.realtime.keys import RedisKeys

CHANGES = ("entered", "exited")


class MalformedChangeError(ValueError):
    """A stream entry that is not a change; the message names the entry and the field."""


@dataclass(frozen=True)
class Change:
    """One segment entry or exit. ``at`` is naive UTC; ``user_id`` is "" for an anonymous
    person (or when the stream does not say)."""

    entry_id: str
    person_id: str
    segment_key: str
    change: str
    at: datetime
    user_id: str = ""

    @classmethod
    def parse(cls, entry_id: str, fields: dict[str, str]) -> Change:
        def need(name: str) -> str:
            value = (fields.get(name) or "").strip()
            if not value:
                raise MalformedChangeError(f"changes entry {entry_id}: field {name!r} is missing")
            return value

        change = need("change")
        if change not in CHANGES:
            raise MalformedChangeError(
                f"changes entry {entry_id}: field 'change' is {change[:40]!r}, "
                "expected 'entered' or 'exited'"
            )
        raw_at = need("at")
        try:
            at = datetime.fromisoformat(raw_at.replace("Z", "+00:00"))
        except ValueError:
            raise MalformedChangeError(
                f"changes entry {entry_id}: field 'at' is {raw_at[:40]!r}, not an ISO 8601 time"
            ) from None
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        return cls(
            entry_id=entry_id,
            person_id=need("person_id"),
            segment_key=need("segment_key"),
            change=change,
            at=at,
            user_id=(fields.get("user_id") or "").strip(),
        )


@dataclass(frozen=True)
class ChangeEntry:
    """One delivered stream entry: its id and its fields as text."""

    entry_id: str
    fields: dict[str, str]


class ChangeStream(Protocol):
    def ensure_group(self, group: str, from_start: bool = False) -> None:
        """Create the consumer group if missing: reading only changes added from now on,
        or with ``from_start`` every change the stream still holds."""
        ...

    def read(
        self, group: str, consumer: str, count: int, block_ms: int = 0, *, pending: bool = False
    ) -> list[ChangeEntry]:
        """Up to ``count`` entries for ``consumer``: new ones, or with ``pending`` the ones it
        was given before and never acknowledged."""
        ...

    def ack(self, group: str, entry_ids: Sequence[str]) -> None:
        """The group is done with these entries."""
        ...

    def lag(self, group: str) -> int:
        """Entries not yet delivered to the group plus those not acknowledged."""
        ...


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisChangeStream:
    """Redis Streams implementation of :class:`ChangeStream` on ``keys.changes``."""

    def __init__(self, client: redis.Redis, keys: RedisKeys):
        self.client = client
        self.keys = keys

    def ensure_group(self, group: str, from_start: bool = False) -> None:
        try:
            self.client.xgroup_create(
                self.keys.changes, group, id="0" if from_start else "$", mkstream=True
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(
        self, group: str, consumer: str, count: int, block_ms: int = 0, *, pending: bool = False
    ) -> list[ChangeEntry]:
        reply = self.client.xreadgroup(
            group,
            consumer,
            {self.keys.changes: "0" if pending else ">"},
            count=count,
            block=None if pending or block_ms <= 0 else block_ms,
        )
        out: list[ChangeEntry] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                eid = _text(entry_id)
                if fields is None:  # trimmed away while pending: nothing to deliver
                    out.append(ChangeEntry(eid, {}))
                    continue
                out.append(ChangeEntry(eid, {_text(k): _text(v) for k, v in fields.items()}))
        return out

    def ack(self, group: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.client.xack(self.keys.changes, group, *entry_ids)

    def lag(self, group: str) -> int:
        try:
            groups = self.client.xinfo_groups(self.keys.changes)
        except redis.ResponseError:  # no stream yet
            return 0
        for info in groups:
            if _text(info["name"]) == group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return int(self.client.xlen(self.keys.changes))
