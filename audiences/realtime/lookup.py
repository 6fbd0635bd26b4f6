"""Which segments is this visitor in? The read side of the segment cache.

A lookup of an anonymous_id or user_id (docs/realtime.md, "Redis layout"), read in one round
trip (one Lua script, with the rate-limit counter):

1. the batch cache must be loaded (``batch:meta`` present) and fresh (``loaded_at`` at most
   ``stale_after`` old): otherwise :class:`CacheUnavailable`, never stale data;
2. the person is ``rt:person_of`` (the stream's stitching, fresher), else
   ``batch:person_of``; neither, or the id or the person is erased (``batch:erased``):
   :class:`UnknownProfile`;
3. segments = (batch set minus streamable set) union live set: for a streamable segment
   the stream is the fresher answer once it has evaluated the person (``rt:updated_at``);
   a person the stream never evaluated keeps the build's answer, streamable keys included;
4. ``updated_at`` = the later of the batch load and the person's last live evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis.asyncio

from audiences.realtime.auth import RATE_COUNTER_TTL
from audiences.realtime.keys import RedisKeys
from audiences.realtime.script_channel import ScriptChannel


class RoundTripCheck(Protocol):
    """A counter of another concern (the rate limit) incremented in the lookup's round trip."""

    @property
    def counter(self) -> str: ...

    def verify(self, count: int) -> None: ...


class CacheUnavailable(Exception):
    """The cache cannot answer truthfully now (cold, stale or unreachable); the API
    answers 503 with ``retry_after`` seconds."""

    def __init__(self, reason: str, message: str, retry_after: int):
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


class UnknownProfile(LookupError):
    """Neither the stream nor the last build knows this id."""


@dataclass(frozen=True)
class ProfileSegments:
    person_id: str
    segments: list[str]
    updated_at: datetime


@dataclass(frozen=True)
class CacheStatus:
    loaded_at: datetime | None
    as_of: str | None
    state: str  # fresh | stale | cold


def parse_utc(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp as an aware UTC datetime (no offset = UTC), or None."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_utc(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``: ``2026-11-24T10:15:00Z``."""
    return value.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


# One round trip per lookup: the rate counter, the cache's freshness, the id's person and the
# person's sets, read atomically by one script. The per-person keys are built in the script
# from the bases that keys.py gives (``key("") .. person_id``), so keys.py stays the one place
# that spells them. A reply is {rate count or -1, meta as a flat list, person_id or "",
# live updated_at or "", segment keys}: Lua arrays cannot hold nil, so "" stands for none.
# The rate counter lives two seconds: its INCR and EXPIRE are kept out of the append-only
# file and the replicas (redis.set_repl), so a lookup writes nothing to disk (decision 0016).
LOOKUP_SCRIPT = """
local count = -1
if KEYS[5] ~= '' then
  redis.set_repl(redis.REPL_NONE)
  count = redis.call('INCR', KEYS[5])
  if count == 1 then redis.call('EXPIRE', KEYS[5], ARGV[4]) end
  redis.set_repl(redis.REPL_ALL)
end
local meta = redis.call('HGETALL', KEYS[1])
local person = redis.call('GET', KEYS[2]) or redis.call('GET', KEYS[3])
if not person then return {count, meta, '', '', {}} end
local erased = redis.call('SMISMEMBER', KEYS[6], ARGV[5], person)
if erased[1] == 1 or erased[2] == 1 then return {count, meta, '', '', {}} end
local batch = redis.call('SMEMBERS', ARGV[1] .. person)
local updated = redis.call('GET', ARGV[3] .. person)
if not updated then return {count, meta, person, '', batch} end
local segments, seen = {}, {}
for _, key in ipairs(batch) do
  if redis.call('SISMEMBER', KEYS[4], key) == 0 and not seen[key] then
    seen[key] = true
    segments[#segments + 1] = key
  end
end
for _, key in ipairs(redis.call('SMEMBERS', ARGV[2] .. person)) do
  if not seen[key] then
    seen[key] = true
    segments[#segments + 1] = key
  end
end
return {count, meta, person, updated, segments}
"""


class SegmentLookup:
    """Answers lookups from the cache, one round trip each, over an asyncio Redis client
    (decode_responses=True) or a :class:`ScriptChannel` to it."""

    def __init__(
        self,
        client: redis.asyncio.Redis | ScriptChannel,
        keys: RedisKeys,
        stale_after: timedelta,
        retry_after: int = 30,
    ):
        self.client = client
        self.keys = keys
        self.stale_after = stale_after
        self.retry_after = retry_after
        self._script = client.register_script(LOOKUP_SCRIPT)
        self._bases = [
            _base_of(keys.batch_segments),
            _base_of(keys.live_segments),
            _base_of(keys.live_updated_at),
            str(RATE_COUNTER_TTL),
        ]
        self._meta_key, self._streamable_key, self._erased_key = (
            keys.batch_meta,
            keys.streamable,
            keys.batch.erased,
        )
        self._live_person_of = _base_of(keys.live_person_of)
        self._batch_person_of = _base_of(keys.batch_person_of)
        # the last batch:meta seen and what it says: it changes once per load, so a lookup
        # parses it only when it changed
        self._meta_seen: list[str] | None = None
        self._meta_status: tuple[bool, datetime | None, str | None] = (False, None, None)

    def cache_status(self, meta: dict[str, str], now: datetime) -> CacheStatus:
        return self._status(bool(meta), parse_utc(meta.get("loaded_at")), meta.get("as_of"), now)

    def _status(
        self, loaded: bool, loaded_at: datetime | None, as_of: str | None, now: datetime
    ) -> CacheStatus:
        if not loaded:
            return CacheStatus(None, None, "cold")
        if loaded_at is None or now - loaded_at > self.stale_after:
            return CacheStatus(loaded_at, as_of, "stale")
        return CacheStatus(loaded_at, as_of, "fresh")

    def _require_fresh(self, flat_meta: list[str], now: datetime) -> datetime:
        if flat_meta != self._meta_seen:
            meta = dict(zip(flat_meta[::2], flat_meta[1::2], strict=True))
            self._meta_status = (bool(meta), parse_utc(meta.get("loaded_at")), meta.get("as_of"))
            self._meta_seen = flat_meta
        loaded, loaded_at, as_of = self._meta_status
        if loaded and loaded_at is not None and now - loaded_at <= self.stale_after:
            return loaded_at
        status = self._status(loaded, loaded_at, as_of, now)
        if status.state == "cold":
            raise CacheUnavailable(
                "cold",
                "the segment cache is not loaded yet (no batch load since Redis started); "
                "run `audiences sync` for the redis destination after `dbt build`",
                self.retry_after,
            )
        if status.state == "stale" or status.loaded_at is None:
            when = format_utc(status.loaded_at) if status.loaded_at else "an unreadable time"
            raise CacheUnavailable(
                "stale",
                f"the segment cache was last loaded at {when}, more than "
                f"{int(self.stale_after.total_seconds())} s ago (AUDIENCES_STALE_AFTER); "
                "run `dbt build` and `audiences sync` to refresh it",
                self.retry_after,
            )
        return status.loaded_at

    async def lookup(
        self, some_id: str, now: datetime, check: RoundTripCheck | None = None
    ) -> ProfileSegments:
        """The person's segments. ``check`` (the rate limit) counts the request in the same
        round trip and is verified before anything is answered."""
        reply = await self._script(
            keys=[
                self._meta_key,
                self._live_person_of + some_id,
                self._batch_person_of + some_id,
                self._streamable_key,
                check.counter if check is not None else "",
                self._erased_key,
            ],
            args=[*self._bases, some_id],
        )
        count, flat_meta, person_id, live_updated, segments = reply
        if check is not None:
            check.verify(int(count))
        loaded_at = self._require_fresh(flat_meta, now)
        if not person_id:
            raise UnknownProfile(some_id)
        # a person the stream has not evaluated since it started keeps the build's answer,
        # streamable keys included (a `none` / `at_most` segment holds without any event,
        # so a missing live set does not mean "out")
        updated_at = max(loaded_at, parse_utc(live_updated or None) or loaded_at)
        return ProfileSegments(person_id, sorted(segments), updated_at)


def _base_of(key_of: Callable[[str], str]) -> str:
    """The part of a per-person key before the person_id (checked, so a layout change in
    keys.py that breaks the script's assumption fails at start-up, not in a lookup)."""
    base = key_of("")
    if key_of("p") != base + "p":
        raise ValueError(f"{key_of('p')!r} does not end with the person_id")
    return base
