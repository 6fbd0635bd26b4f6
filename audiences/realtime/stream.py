"""The event stream behind one small interface.

``EventStream`` is all the API, the evaluator and the loader know of the stream, so a Kafka
topic can replace Redis Streams by implementing these five methods (docs/realtime.md, "Kafka
instead of Redis Streams"). ``RedisEventStream`` is the shipped implementation: one Redis
stream, one consumer group per reader, entries acknowledged only after the reader has
committed what it did with them (at-least-once delivery; readers make it exactly-once with
their own commit watermark, see audiences/realtime/loader.py and the evaluator).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis
import redis.asyncio

from audiences.realtime.keys import RedisKeys

# KEYS = seen keys of the batch (one per event), then the stream key.
# ARGV = ttl seconds, then the JSON of each event. Adds the events whose seen key is new,
# in order, all inside one script run (Redis runs a script atomically): a batch is never
# half-accepted. Returns the number of events added.
_PUBLISH = """
local n = #KEYS - 1
local stream = KEYS[#KEYS]
local added = 0
for i = 1, n do
  if redis.call('SET', KEYS[i], '1', 'NX', 'EX', ARGV[1]) then
    redis.call('XADD', stream, '*', 'e', ARGV[i + 1])
    added = added + 1
  end
end
return added
"""


@dataclass(frozen=True)
class StreamEntry:
    """One delivered event: its position in the stream and the event (raw column names).
    An entry whose payload is not a JSON object has ``event`` empty and the payload in
    ``unreadable``."""

    entry_id: str
    event: dict[str, Any]
    unreadable: str | None = None


class EventStream(Protocol):
    def publish(self, events: Sequence[dict[str, Any]]) -> int:
        """Append the events whose ``event_id`` was never accepted before, atomically;
        return how many were new."""
        ...

    def ensure_group(self, group: str) -> None:
        """Create the consumer group (reading from the start of the stream) if missing."""
        ...

    def read(
        self, group: str, consumer: str, count: int, block_ms: int = 0, *, pending: bool = False
    ) -> list[StreamEntry]:
        """Up to ``count`` entries for ``consumer``: new ones, or with ``pending`` the ones it
        was given before and never acknowledged (what a restart must finish first)."""
        ...

    def ack(self, group: str, entry_ids: Sequence[str]) -> None:
        """The group is done with these entries."""
        ...

    def lag(self, group: str) -> int:
        """Entries not yet delivered to the group plus those delivered and not acknowledged."""
        ...

    def trim_acknowledged(self, groups: Sequence[str]) -> int:
        """Delete the entries every one of ``groups`` has acknowledged (none while one of them
        does not exist yet: it would read the stream from its start); return how many."""
        ...

    def dead_letter(self, group: str, entry: StreamEntry, error: str) -> None:
        """Keep an entry the group cannot use, with the reason, before it acknowledges it
        (idempotent: the same entry kept twice is kept once)."""
        ...


class RedisEventStream:
    """Redis Streams implementation of :class:`EventStream`."""

    def __init__(self, client: redis.Redis, keys: RedisKeys, dedup_ttl_seconds: int = 7 * 86400):
        self.client = client
        self.keys = keys
        self.dedup_ttl_seconds = dedup_ttl_seconds
        self._publish = client.register_script(_PUBLISH)

    def publish(self, events: Sequence[dict[str, Any]]) -> int:
        if not events:
            return 0
        keys, args = _publish_call(self.keys, events, self.dedup_ttl_seconds)
        return int(self._publish(keys=keys, args=args))

    def ensure_group(self, group: str) -> None:
        try:
            self.client.xgroup_create(self.keys.events, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read(
        self, group: str, consumer: str, count: int, block_ms: int = 0, *, pending: bool = False
    ) -> list[StreamEntry]:
        reply = self.client.xreadgroup(
            group,
            consumer,
            {self.keys.events: "0" if pending else ">"},
            count=count,
            block=None if pending or block_ms <= 0 else block_ms,
        )
        out: list[StreamEntry] = []
        for _stream, entries in reply or []:
            for entry_id, fields in entries:
                if fields is None:  # trimmed away while pending
                    continue
                raw = fields.get("e") if isinstance(fields, dict) else None
                if raw is None:
                    raw = fields.get(b"e")
                eid = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                out.append(_entry(eid, raw))
        return out

    def dead_letter(self, group: str, entry: StreamEntry, error: str) -> None:
        kept: dict[str, Any] = {
            "error": error,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if entry.unreadable is not None:
            kept["raw"] = entry.unreadable
        else:
            kept["event"] = entry.event
        self.client.hset(
            self.keys.dead_letters(group),
            entry.entry_id,
            json.dumps(kept, separators=(",", ":"), ensure_ascii=False),
        )

    def ack(self, group: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.client.xack(self.keys.events, group, *entry_ids)

    def trim_acknowledged(self, groups: Sequence[str]) -> int:
        infos = {_text(i["name"]): i for i in self.client.xinfo_groups(self.keys.events)}
        if not groups or any(g not in infos for g in groups):
            return 0
        bounds: list[tuple[int, int]] = []
        for group in groups:
            pending = self.client.xpending(self.keys.events, group)
            if int(pending.get("pending") or 0):
                bounds.append(_entry_id(_text(pending["min"])))  # the oldest unacknowledged
            else:  # everything delivered is acknowledged: keep what comes after it
                ms, seq = _entry_id(_text(infos[group]["last-delivered-id"]))
                bounds.append((ms, seq + 1))
        ms, seq = min(bounds)
        return int(self.client.xtrim(self.keys.events, minid=f"{ms}-{seq}", approximate=False))

    def lag(self, group: str) -> int:
        for info in self.client.xinfo_groups(self.keys.events):
            name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
            if name == group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return int(self.client.xlen(self.keys.events))


class AsyncEventPublisher:
    """:meth:`RedisEventStream.publish` on an asyncio client (the API's request path): the
    same script, atomic and idempotent on ``event_id``."""

    def __init__(
        self, client: redis.asyncio.Redis, keys: RedisKeys, dedup_ttl_seconds: int = 7 * 86400
    ):
        self.keys = keys
        self.dedup_ttl_seconds = dedup_ttl_seconds
        self._publish = client.register_script(_PUBLISH)

    async def publish(self, events: Sequence[dict[str, Any]]) -> int:
        if not events:
            return 0
        keys, args = _publish_call(self.keys, events, self.dedup_ttl_seconds)
        return int(await self._publish(keys=keys, args=args))


def _publish_call(
    keys: RedisKeys, events: Sequence[dict[str, Any]], ttl: int
) -> tuple[list[str], list[str | int]]:
    """KEYS and ARGV of the publish script for a batch."""
    seen = [keys.seen(str(e["event_id"])) for e in events]
    bodies = [json.dumps(e, separators=(",", ":"), ensure_ascii=False) for e in events]
    return [*seen, keys.events], [ttl, *bodies]


class StreamTrimmer:
    """Trims the event stream of what every consumer group acknowledged, at most once every
    ``every_s`` seconds (called by the evaluator and the loader after each batch)."""

    def __init__(self, stream: EventStream, groups: Sequence[str], every_s: float = 10.0):
        self.stream, self.groups, self.every_s = stream, tuple(groups), every_s
        self._last = float("-inf")
        self.trimmed = 0

    def maybe(self) -> int:
        now = time.monotonic()
        if now - self._last < self.every_s:
            return 0
        self._last = now
        n = self.stream.trim_acknowledged(self.groups)
        self.trimmed += n
        return n


def _entry(entry_id: str, raw: Any) -> StreamEntry:
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
    try:
        event = orjson.loads(text) if text is not None else None
    except (TypeError, ValueError):  # orjson.JSONDecodeError is a ValueError
        event = None
    if not isinstance(event, dict):
        return StreamEntry(entry_id, {}, unreadable=str(text))
    return StreamEntry(entry_id, event)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry_id(value: str) -> tuple[int, int]:
    ms, _, seq = value.partition("-")
    return int(ms), int(seq or 0)
