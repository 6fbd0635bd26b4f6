"""Which segments is this visitor in? The read side of the segment cache.

A lookup of an anonymous_id or user_id (docs/realtime.md, "Redis layout"):

1. the batch cache must be loaded (``batch:meta`` present) and fresh (``loaded_at`` at most
   ``stale_after`` old): otherwise :class:`CacheUnavailable`, never stale data;
2. the person is ``rt:person_of`` (the stream's stitching, fresher), else
   ``batch:person_of``; neither: :class:`UnknownProfile`;
3. segments = (batch set minus streamable set) union live set: for a streamable segment
   the stream is the fresher answer once it has evaluated the person (``rt:updated_at``);
   a person the stream never evaluated keeps the build's answer, streamable keys included;
4. ``updated_at`` = the later of the batch load and the person's last live evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import redis
from redis.client import Pipeline

from audiences.realtime.keys import RedisKeys


class RoundTripCheck(Protocol):
    """Commands of another concern run in the lookup's first round trip."""

    commands: int

    def queue(self, pipe: Pipeline) -> None: ...

    def verify(self, answers: list[Any]) -> None: ...


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


class SegmentLookup:
    def __init__(
        self, client: redis.Redis, keys: RedisKeys, stale_after: timedelta, retry_after: int = 30
    ):
        self.client = client
        self.keys = keys
        self.stale_after = stale_after
        self.retry_after = retry_after

    def cache_status(self, meta: dict[str, str], now: datetime) -> CacheStatus:
        if not meta:
            return CacheStatus(None, None, "cold")
        loaded_at = parse_utc(meta.get("loaded_at"))
        if loaded_at is None or now - loaded_at > self.stale_after:
            return CacheStatus(loaded_at, meta.get("as_of"), "stale")
        return CacheStatus(loaded_at, meta.get("as_of"), "fresh")

    def _require_fresh(self, meta: dict[str, str], now: datetime) -> datetime:
        status = self.cache_status(meta, now)
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

    def lookup(
        self, some_id: str, now: datetime, check: RoundTripCheck | None = None
    ) -> ProfileSegments:
        """The person's segments. ``check`` (the rate limit) runs in the first round trip,
        before anything is answered."""
        pipe = self.client.pipeline(transaction=False)
        if check is not None:
            check.queue(pipe)
        pipe.hgetall(self.keys.batch_meta)
        pipe.get(self.keys.live_person_of(some_id))
        pipe.get(self.keys.batch_person_of(some_id))
        answers = pipe.execute()
        if check is not None:
            check.verify(answers[: check.commands])
        meta, live_person, batch_person = answers[-3:]
        loaded_at = self._require_fresh(meta or {}, now)
        person_id = live_person or batch_person
        if not person_id:
            raise UnknownProfile(some_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.smembers(self.keys.batch_segments(person_id))
        pipe.smembers(self.keys.streamable)
        pipe.smembers(self.keys.live_segments(person_id))
        pipe.get(self.keys.live_updated_at(person_id))
        batch, streamable, live, live_updated = pipe.execute()
        if live_updated is None:
            # the stream has not evaluated this person since it started: the build's answer
            # stands, streamable keys included (a `none` / `at_most` segment holds without
            # any event, so a missing live set does not mean "out")
            segments = sorted(set(batch))
        else:
            segments = sorted((set(batch) - set(streamable)) | set(live))
        updated_at = max(loaded_at, parse_utc(live_updated) or loaded_at)
        return ProfileSegments(person_id, segments, updated_at)
