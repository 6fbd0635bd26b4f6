"""Every Redis key of the real-time path, in one place (docs/realtime.md, "Redis layout").

All keys start with a prefix (``AUDIENCES_REDIS_PREFIX``, default ``aud:``) so several
projects, or tests, can share one Redis server. Components never spell a key themselves:
they ask this module, so the layout can be read (and changed) here.
"""

from __future__ import annotations

from dataclasses import dataclass

from reverse_etl.destinations.redis_keys import DEFAULT_PREFIX, BatchKeys

__all__ = [
    "DEFAULT_PREFIX",
    "EVALUATOR_GROUP",
    "EVENT_STREAM_GROUPS",
    "LOADER_GROUP",
    "TRIGGERS_GROUP",
    "RedisKeys",
]

# consumer groups on the event stream
EVALUATOR_GROUP = "evaluator"
LOADER_GROUP = "loader"
#: the consumers of the event stream: an entry is deleted once both acknowledged it
EVENT_STREAM_GROUPS = (EVALUATOR_GROUP, LOADER_GROUP)
# consumer group on the changes stream (rt:changes)
TRIGGERS_GROUP = "triggers"


@dataclass(frozen=True)
class RedisKeys:
    prefix: str = DEFAULT_PREFIX

    # --- the event stream (written by `serve`, read by the evaluator and the loader) ----
    @property
    def events(self) -> str:
        """Stream of accepted tracker events; field ``e`` holds the event as JSON."""
        return f"{self.prefix}events"

    def dead_letters(self, group: str) -> str:
        """Hash: entry id -> JSON ``{"event" or "raw", "error", "at"}`` of the stream entries
        the consumer group could not use (kept, never lost; the group moved on)."""
        return f"{self.prefix}dead:{group}"

    def seen(self, event_id: str) -> str:
        """Set (NX, with a TTL) when an event id is first accepted: idempotency."""
        return f"{self.prefix}seen:{event_id}"

    # --- memberships from the last dbt build (the `redis` destination) ------------------
    # Defined once in reverse_etl/destinations/redis_keys.py (the destination writes them;
    # the sync engine may not import this package).
    @property
    def batch(self) -> BatchKeys:
        return BatchKeys(self.prefix)

    def batch_segments(self, person_id: str) -> str:
        """Set of the person's segment keys from the last build (holdout excluded)."""
        return self.batch.segments(person_id)

    def batch_held(self, person_id: str) -> str:
        """Set of the segment keys the person is held out of (never served)."""
        return self.batch.held(person_id)

    def batch_person_of(self, some_id: str) -> str:
        """anonymous_id or user_id -> person_id, as the last build stitched it."""
        return self.batch.person_of(some_id)

    def batch_ids_of(self, person_id: str) -> str:
        """Set of the ids the destination last pointed at the person (its own bookkeeping)."""
        return self.batch.ids_of(person_id)

    @property
    def batch_meta(self) -> str:
        """Hash: ``loaded_at`` (ISO 8601 UTC) and ``as_of`` of the last completed load.
        Missing = the cache is cold."""
        return self.batch.meta

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

    # --- real-time triggers (audiences/realtime/triggers.py, ADR 0009) -----------------
    def trigger_rows(self, trigger: str) -> str:
        """Hash: outbox id -> the change as JSON with its delivery status (the trigger's
        outbox, ADR 0005 statuses)."""
        return f"{self.prefix}rt:trig:{trigger}:rows"

    def trigger_pending(self, trigger: str) -> str:
        """List of the outbox ids waiting to be sent, oldest first."""
        return f"{self.prefix}rt:trig:{trigger}:pending"

    def trigger_sending(self, trigger: str) -> str:
        """Set of the outbox ids claimed for a request whose answer is not recorded yet."""
        return f"{self.prefix}rt:trig:{trigger}:sending"

    def trigger_settled(self, trigger: str) -> str:
        """Sorted set: outbox id -> when it was settled (sent, rejected or unknown; epoch
        seconds), so settled rows can be pruned after the trigger's retention."""
        return f"{self.prefix}rt:trig:{trigger}:settled"

    def trigger_counts(self, trigger: str) -> str:
        """Hash of counters: ``enqueued``, ``sent``, ``rejected``, ``unknown``,
        ``skipped_anonymous``."""
        return f"{self.prefix}rt:trig:{trigger}:counts"

    @property
    def triggers_lock(self) -> str:
        """String with a TTL: the running forwarder (one per prefix)."""
        return f"{self.prefix}rt:trig:lock"

    def rate(self, key_id: str, window: int) -> str:
        """Request counter of one API key in one rate-limit window."""
        return f"{self.prefix}ratelimit:{key_id}:{window}"
