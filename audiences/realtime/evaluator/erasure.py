"""Erasure in the streaming evaluator (docs/realtime.md, "Erasure").

The `redis` destination (``load: erasures``) adds each erased id (a user_id, or the
anonymous_id of a device identified as an erased person) to ``batch:erased`` and, once, to
the stream ``batch:erasures``. Before each batch the evaluator:

1. forgets the ids newly on ``batch:erasures``: the state of each erased device and of the
   erased person's devices, their ``rt:`` keys (person_of, live segments, updated_at) and
   their place in ``due``; a person who shared such a device keeps their own devices and is
   re-evaluated in this batch. One MULTI/EXEC with the read position, so a crash repeats it
   whole (every step is idempotent);
2. drops every event of the batch whose anonymous_id or user_id is in ``batch:erased``, so an
   erased person never comes back through the stream. A device merely seen with an erased
   user_id keeps its other events until the next build lists it (as the batch models do).

No ``exited`` change is emitted for an erased person: triggers never address them again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import redis

from audiences.realtime.evaluator.device import DeviceState
from audiences.realtime.evaluator.device_cache import DeviceCache
from audiences.realtime.evaluator.redis_batch import RedisScripts, read_sets
from audiences.realtime.evaluator.state_keys import StateKeys
from audiences.realtime.keys import RedisKeys
from audiences.realtime.stream import StreamEntry

log = logging.getLogger(__name__)

#: erased ids applied per batch at most (a large backlog is worked off over several batches)
ERASURES_PER_BATCH = 1000


class Eraser:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        per_batch: int = ERASURES_PER_BATCH,
        cache: DeviceCache | None = None,
    ):
        self.client = client
        self.cache = cache  # the evaluator's device states in memory: forgotten too
        self.keys = keys
        self.state = StateKeys(keys)
        self.scripts = RedisScripts(client)
        self.per_batch = per_batch

    def apply_new(self, as_of: int) -> int:
        """Forget the ids erased since the last call; returns how many ids."""
        last = self.client.get(self.state.erasures_read) or "0"
        entries = self.client.xrange(
            self.keys.batch.erasures, min=f"({last}", max="+", count=self.per_batch
        )
        if not entries:
            return 0
        ids = sorted({fields["id"] for _entry_id, fields in entries if fields.get("id")})
        self._forget(ids, entries[-1][0], as_of)
        log.info("forgot %d erased id(s)", len(ids))
        return len(ids)

    def _forget(self, ids: list[str], read_to: str, as_of: int) -> None:
        own_devices = read_sets(self.scripts, [self.state.devices_of(i) for i in ids])
        devices = sorted(set(ids) | {d for found in own_devices for d in found})
        # the metadata is enough: who the devices' users and persons are
        raw = self.client.mget([self.state.device(d) for d in devices])
        states = {d: DeviceState.loads(d, r) for d, r in zip(devices, raw, strict=True) if r}
        gone = set(ids) | set(devices)
        # persons who keep living: they lose the erased devices and are evaluated again now
        survivors = sorted({p for s in states.values() for p in s.persons} - gone)
        tx = self.client.pipeline(transaction=True)
        for person in sorted(gone):
            tx.delete(
                self.keys.live_segments(person),
                self.keys.live_updated_at(person),
                self.keys.live_person_of(person),
                self.state.devices_of(person),
                self.state.device(person),
                self.state.device_events(person),
            )
            tx.zrem(self.state.due, person)
        for state in states.values():
            for user in state.users:
                if user in gone:
                    tx.delete(self.keys.live_person_of(user))
        for person in survivors:
            tx.srem(self.state.devices_of(person), *devices)
            tx.zadd(self.state.due, {person: as_of})
        tx.set(self.state.erasures_read, read_to)
        tx.execute()
        if self.cache is not None:
            self.cache.forget(devices)

    def keep(self, entries: Sequence[StreamEntry]) -> tuple[list[StreamEntry], int]:
        """The entries whose ids are not erased, and how many were dropped."""
        ids = sorted(
            {
                str(value)
                for entry in entries
                for value in (entry.event.get("anonymous_id"), entry.event.get("user_id"))
                if value
            }
        )
        if not ids:
            return list(entries), 0
        erased = {
            i
            for i, is_erased in zip(
                ids, self.client.smismember(self.keys.batch.erased, ids), strict=True
            )
            if is_erased
        }
        if not erased:
            return list(entries), 0
        kept = [
            e
            for e in entries
            if str(e.event.get("anonymous_id") or "") not in erased
            and str(e.event.get("user_id") or "") not in erased
        ]
        return kept, len(entries) - len(kept)
