"""Every Redis key of the real-time path, in one place (docs/realtime.md, "Redis layout").

All keys start with a prefix (``AUDIENCES_REDIS_PREFIX``, default ``aud:``) so several
projects, or tests, can share one Redis server. Components never spell a key themselves:
they ask this module, so the layout can be read (and changed) here.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "aud:"

# consumer groups on the event stream
EVALUATOR_GROUP = "evaluator"
LOADER_GROUP = "loader"


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = DEFAULT_PREFIX

    # --- the event stream (written by `serve`, read by the evaluator and the loader) ----
    @property
    def events(self) -> str:
        """Stream of accepted tracker events; field ``e`` holds the event as JSON."""
        return f"{self.prefix}events"

    def seen(self, event_id: str) -> str:
        """Set (NX, with a TTL) when an event id is first accepted: idempotency."""
        return f"{self.prefix}seen:{event_id}"

    # --- memberships from the last dbt build (the `redis` destination) ------------------
    def batch_segments(self, person_id: str) -> str:
        """Set of the person's segment keys from the last build (holdout excluded)."""
        return f"{self.prefix}batch:seg:{person_id}"

    def batch_person_of(self, some_id: str) -> str:
        """anonymous_id or user_id -> person_id, as the last build stitched it."""
        return f"{self.prefix}batch:person_of:{some_id}"

    @property
    def batch_meta(self) -> str:
        """Hash: ``loaded_at`` (ISO 8601 UTC) and ``as_of`` of the last completed load.
        Missing = the cache is cold."""
        return f"{self.prefix}batch:meta"

    # --- memberships from the stream (the streaming evaluator) --------------------------
    def live_segments(self, person_id: str) -> str:
        """Set of the streamable segment keys the person is in now."""
        return f"{self.prefix}rt:seg:{person_id}"

    def live_person_of(self, some_id: str) -> str:
        """anonymous_id or user_id -> person_id, as the stream stitched it so far."""
        return f"{self.prefix}rt:person_of:{some_id}"

    def live_updated_at(self, person_id: str) -> str:
        """ISO 8601 UTC time of the person's last membership evaluation."""
        return f"{self.prefix}rt:updated_at:{person_id}"

    @property
    def streamable(self) -> str:
        """Set of the segment keys the evaluator maintains (the rest come from the build)."""
        return f"{self.prefix}rt:streamable"

    @property
    def heartbeat(self) -> str:
        """ISO 8601 UTC time of the evaluator's last committed batch."""
        return f"{self.prefix}rt:heartbeat"

    @property
    def changes(self) -> str:
        """Stream of segment entries and exits found by the evaluator (fields
        ``person_id``, ``segment_key``, ``change`` = entered|exited, ``at``)."""
        return f"{self.prefix}rt:changes"

    def state(self, name: str) -> str:
        """The evaluator's own per-device / per-person window state (its layout is private
        to audiences.realtime.evaluator)."""
        return f"{self.prefix}rt:state:{name}"

    def rate(self, key_id: str, window: int) -> str:
        """Request counter of one API key in one rate-limit window."""
        return f"{self.prefix}ratelimit:{key_id}:{window}"
