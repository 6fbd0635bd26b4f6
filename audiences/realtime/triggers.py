"""The trigger forwarder (`audiences triggers`): segment entries and exits found by the
streaming evaluator, sent at once to the destinations configured under ``triggers:`` in
syncs.yml (Braze custom events, a signed webhook), exactly once in the sense of ADR 0005.

One loop, one process per Redis prefix (a lock key says which):

1. **read** the changes stream ``rt:changes`` as the consumer group ``triggers`` (first the
   entries a killed predecessor was given and never acknowledged);
2. **enqueue** every change into the outbox of each trigger it matches (one Lua script per
   trigger: atomic and idempotent, keyed by person, segment, change and time, so a
   re-delivered entry adds nothing); changes of anonymous persons are counted, not queued,
   for a target that needs a user id;
3. **acknowledge** the entries on the stream: only now, once they are durably in the outboxes;
4. **deliver** each outbox with the shared protocol of reverse_etl/event_outbox.py
   (claim = write-ahead record, send through the engine's one HttpTransport, record the
   answer; an unknown outcome as ``on_unknown`` says).

A ``kill -9`` anywhere loses nothing and sends nothing twice: before 3, the entries are
re-delivered and re-enqueued as no-ops; between a claim and its recorded answer, the rows are
the window ADR 0005 describes (``unknown``, or ``pending`` again with ``on_unknown: resend``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import redis

from audiences.realtime.changes import Change, ChangeStream, MalformedChangeError
from audiences.realtime.keys import TRIGGERS_GROUP, RedisKeys
from audiences.realtime.trigger_outbox import RedisOutboxStore
from reverse_etl.core.errors import DestinationError, ReverseEtlError
from reverse_etl.core.trigger import TriggerConfig
from reverse_etl.destinations.capabilities import TriggerTarget
from reverse_etl.destinations.registry import build_trigger_target
from reverse_etl.engine import transport_for
from reverse_etl.event_outbox import OutboxRow, OutboxSender
from reverse_etl.http.transport import HttpTransport, RetryPolicy
from reverse_etl.settings import redact

log = logging.getLogger("audiences.triggers")

CONSUMER = "forwarder"
#: seconds before a trigger whose target failed is tried again (doubling up to the max)
RETRY_FIRST_SECONDS = 5.0
RETRY_MAX_SECONDS = 300.0

# KEYS lock. ARGV token, ttl ms. Extend the lock while we hold it; take it back when it
# expired during a long delivery and nobody else took it; 0 when another process holds it.
_REFRESH = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class TriggersError(Exception):
    """Something the user must fix or know (message for a marketer, no traceback)."""


class TriggersAlreadyRunningError(TriggersError):
    pass


@dataclass
class _Trigger:
    config: TriggerConfig
    target: TriggerTarget
    store: RedisOutboxStore
    sender: OutboxSender
    transport: HttpTransport
    retry_at: float = 0.0
    backoff: float = RETRY_FIRST_SECONDS
    error: str | None = None


@dataclass
class ForwarderStats:
    entries: int = 0
    malformed: int = 0
    requests: int = 0
    pruned: int = 0  # settled outbox rows deleted after their retention
    failures: list[str] = field(default_factory=list)


class TriggerForwarder:
    def __init__(
        self,
        client: redis.Redis,
        keys: RedisKeys,
        stream: ChangeStream,
        triggers: list[TriggerConfig],
        *,
        build_target: Callable[[TriggerConfig], TriggerTarget] = build_trigger_target,
        retry_policy: RetryPolicy | None = None,
        crash: Callable[[str], None] = lambda point: None,
        batch_size: int = 500,
        lock_ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not triggers:
            raise TriggersError("no trigger is configured: add a `triggers:` list to syncs.yml")
        self.client = client
        self.keys = keys
        self.stream = stream
        self.crash = crash
        self.batch_size = batch_size
        self.lock_ttl = lock_ttl
        self.clock = clock
        self.stats = ForwarderStats()
        self.stopping = False
        self._token = f"{socket.gethostname()} pid {os.getpid()} {uuid.uuid4().hex[:8]}"
        self._refresh = client.register_script(_REFRESH)
        self._release = client.register_script(_RELEASE)
        self._warned_no_user_field = False
        self.triggers: list[_Trigger] = []
        for cfg in triggers:
            target = build_target(cfg)
            store = RedisOutboxStore(client, keys, cfg.name)
            batch = target.limits.batch_size
            sender = OutboxSender(store, cfg.name, target.on_unknown, batch, crash)
            # http_config reads the credentials now: a missing secret stops the start
            self.triggers.append(
                _Trigger(cfg, target, store, sender, transport_for(target, retry_policy))
            )

    # --- the lock: one forwarder per prefix ----------------------------------------------------
    def _acquire(self) -> None:
        ttl_ms = int(self.lock_ttl * 1000)
        deadline = self.clock() + self.lock_ttl + 1.0
        announced = False
        while not self.client.set(self.keys.triggers_lock, self._token, nx=True, px=ttl_ms):
            holder = self.client.get(self.keys.triggers_lock) or "?"
            if self.clock() > deadline:
                raise TriggersAlreadyRunningError(
                    f"another `audiences triggers` is running on this Redis prefix ({holder}); "
                    "run one forwarder per prefix"
                )
            if not announced:
                log.info(
                    "waiting for the lock held by %s (a killed forwarder's lock expires "
                    "within %.0f s)",
                    holder,
                    self.lock_ttl,
                )
                announced = True
            time.sleep(0.1)

    def _keep_lock(self) -> None:
        ok = self._refresh(
            keys=[self.keys.triggers_lock], args=[self._token, int(self.lock_ttl * 1000)]
        )
        if not ok:
            raise TriggersAlreadyRunningError(
                "this forwarder lost its lock: it was busy or paused longer than the lock's "
                f"{self.lock_ttl:.0f} s and another one started; stopping (raise --lock-ttl)"
            )

    # --- start ---------------------------------------------------------------------------------
    def start(self, from_start: bool = False) -> None:
        self._acquire()
        self.stream.ensure_group(TRIGGERS_GROUP, from_start=from_start)
        for t in self.triggers:
            t.sender.recover()

    # --- read, enqueue, acknowledge ----------------------------------------------------------
    def _parse(self, entry_id: str, fields: dict[str, str]) -> Change | None:
        if not fields:
            return None  # trimmed from the stream while pending
        try:
            change = Change.parse(entry_id, fields)
        except MalformedChangeError as exc:
            self.stats.malformed += 1
            log.warning("%s; skipped", exc)
            return None
        if "user_id" not in fields and not self._warned_no_user_field:
            self._warned_no_user_field = True
            log.warning(
                "changes entry %s has no user_id field: the evaluator does not say which "
                "persons are identified, so every change counts as anonymous",
                entry_id,
            )
        return change

    def step(self, block_ms: int = 0, *, pending: bool = False) -> int:
        """Read one batch of entries, enqueue them, acknowledge them; returns how many."""
        entries = self.stream.read(
            TRIGGERS_GROUP, CONSUMER, self.batch_size, block_ms, pending=pending
        )
        if not entries:
            return 0
        changes = [c for e in entries if (c := self._parse(e.entry_id, e.fields)) is not None]
        for t in self.triggers:
            rows: list[OutboxRow] = []
            skipped = 0
            for c in changes:
                if not t.config.matches(c.segment_key, c.change):
                    continue
                if not c.user_id and not t.target.takes_anonymous:
                    skipped += 1
                    continue
                rows.append(OutboxRow(c.person_id, c.user_id, c.segment_key, c.change, c.at))
            t.store.enqueue(rows, skipped)
        self.crash("trigger_enqueued")
        self.stream.ack(TRIGGERS_GROUP, [e.entry_id for e in entries])
        self.crash("trigger_acked")
        self.stats.entries += len(entries)
        return len(entries)

    def drain_pending(self) -> None:
        """Finish the entries a killed predecessor was given and never acknowledged."""
        while self.step(pending=True):
            pass

    # --- deliver --------------------------------------------------------------------------------
    def deliver(self) -> None:
        now = self.clock()
        for t in self.triggers:
            if t.retry_at > now:
                continue
            before = t.transport.requests
            try:
                t.sender.send_all(t.target, t.transport)
            except (DestinationError, ReverseEtlError) as exc:
                t.error = redact(str(exc))
                t.retry_at = now + t.backoff
                log.error(
                    "trigger %r: %s (trying again in %.0f s)", t.config.name, t.error, t.backoff
                )
                t.backoff = min(RETRY_MAX_SECONDS, t.backoff * 2)
            else:
                t.error, t.backoff = None, RETRY_FIRST_SECONDS
            finally:
                self.stats.requests += t.transport.requests - before
            self.stats.pruned += t.store.prune(timedelta(days=t.config.keep_settled_days))

    # --- loops ----------------------------------------------------------------------------------
    def run_once(self, from_start: bool = False) -> ForwarderStats:
        """Drain: everything the stream holds now is enqueued and delivered, then stop. A
        trigger whose target failed is reported in ``stats.failures`` (its changes stay
        queued for the next run)."""
        self.start(from_start)
        try:
            self.drain_pending()
            while True:
                self._keep_lock()
                n = self.step()
                self.deliver()
                if n == 0 or self.stopping:
                    break
            self.stats.failures = [
                f"trigger {t.config.name!r}: {t.error}" for t in self.triggers if t.error
            ]
            return self.stats
        finally:
            self.close()

    def run_forever(self, from_start: bool = False) -> ForwarderStats:
        self.start(from_start)
        block_ms = max(10, min(1000, int(self.lock_ttl * 1000 / 3)))
        try:
            self.drain_pending()
            self.deliver()
            while not self.stopping:
                self._keep_lock()
                self.step(block_ms)
                self.deliver()
            return self.stats
        finally:
            self.close()

    def close(self) -> None:
        for t in self.triggers:
            t.transport.close()
        with contextlib.suppress(redis.RedisError):
            self._release(keys=[self.keys.triggers_lock], args=[self._token])

    def counts(self) -> dict[str, dict[str, int]]:
        return {
            t.config.name: {**t.store.counts(), "pending": t.store.pending_count()}
            for t in self.triggers
        }
