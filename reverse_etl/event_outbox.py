"""Exactly-once delivery of segment entered / exited events to Braze (ADR 0005).

Braze appends every event it receives; it has no idempotency key and no read-back. So the
state that makes events exactly-once lives with us, in ``reverse_etl.event_outbox`` (the
table is defined in :mod:`reverse_etl.state_schema`). The destination declares the
capability (:class:`reverse_etl.destinations.capabilities.EventsAfterSync`: where the
changes come from, how one request is sent); this module owns their state:

1. **Enqueue** (SQL, in the warehouse): every row of the changes model whose user the Braze
   sync has acknowledged (``sync_state``: in the consent-filtered mart and present in Braze)
   is inserted once, keyed by (sync, person, segment, change, changed_at);
   ``ON CONFLICT DO NOTHING`` makes re-enqueueing free. Without ``backfill`` the changes that
   exist on the first run are stored as ``skipped``.
2. **Claim** (one transaction): up to one request of ``pending`` rows become ``sending`` with
   an attempt id: the write-ahead record, committed before the request leaves.
3. **Send**: the destination's ``send_events`` (Braze: ``POST /users/track`` with events
   only) through the engine's one HTTP transport with ``retry_unknown=False``: retries happen
   only when Braze certainly did not process the request (an HTTP answer of 429 or 5xx, a
   connection that never opened). Any other failure (read timeout, connection dropped after
   sending) is *unknown* (``OutcomeUnknownError``).
4. **Acknowledge** (one transaction): on a 2xx every row of the request becomes ``sent``, or
   ``rejected`` with Braze's message when its ``errors[]`` names the row's index.

A crash between 3 and 4 leaves rows ``sending``; the next run cannot ask Braze whether they
arrived, so with ``on_unknown: skip`` (default) they become ``unknown`` and are never sent
again (at most once), with ``resend`` they go back to ``pending`` (at least once; every event
carries ``audiences_event_id`` so a consumer can drop the duplicate). Outside that window
each change is delivered exactly once.

Steps 2 to 4 and the crash recovery are one protocol, :class:`OutboxSender`, over a small
storage interface (:class:`OutboxStore`): the warehouse table here
(:class:`WarehouseOutboxStore`) for the batch syncs, and a Redis store for the real-time
triggers (``audiences/realtime/trigger_outbox.py``, ADR 0009). Both keep the same statuses
with the same meaning; only where the rows live differs.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from reverse_etl.core.clock import now
from reverse_etl.core.errors import DestinationError, ModelDataError
from reverse_etl.core.records import Outcome
from reverse_etl.destinations.capabilities import (
    EventsAfterSync,
    EventSpec,
    SegmentEvent,
    SendsEvents,
    Transport,
)
from reverse_etl.http.transport import HttpTransport, OutcomeUnknownError
from reverse_etl.manifest import Relation
from reverse_etl.state_schema import T_OUTBOX, T_OUTBOX_SYNCS, T_STATE, ensure
from reverse_etl.warehouse.base import Warehouse

log = logging.getLogger("reverse_etl")

MAX_RESENDS = 3


def event_id(sync: str, person: str, segment: str, change: str, changed_at: datetime) -> str:
    raw = "\x1f".join([sync, person, segment, change, changed_at.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class OutboxRow:
    """One change in an outbox (the key is person, segment, change and time)."""

    person_id: str
    user_id: str
    segment_key: str
    change: str  # "entered" | "exited"
    changed_at: datetime
    attempts: int = 0


class OutboxStore(Protocol):
    """Where an outbox keeps its rows. Every method is one committed (atomic) step: the
    protocol of :class:`OutboxSender` relies on each being durable when it returns."""

    def claim(self, size: int, attempt_id: str) -> list[OutboxRow]:
        """Up to ``size`` ``pending`` rows, oldest first, made ``sending`` with ``attempt_id``
        and one more attempt: the write-ahead record, committed before any byte leaves."""
        ...

    def settle(self, rows: list[tuple[OutboxRow, str, str | None]]) -> None:
        """Set each row's status (``sent``, ``rejected``, ``pending`` or ``unknown``) and
        error, all in one transaction; ``sent`` rows get their ``sent_at``."""
        ...

    def recover(self, resend: bool, why: str) -> int:
        """Rows left ``sending`` by a killed process become ``pending`` (``resend``) or
        ``unknown``; returns how many."""
        ...


class OutboxSender:
    """Claim, send through the destination, acknowledge (ADR 0005, steps 2 to 4), over any
    :class:`OutboxStore`. ``name`` is the sync's (or trigger's) name: part of every event id."""

    def __init__(
        self,
        store: OutboxStore,
        name: str,
        on_unknown: str,
        batch_size: int,
        crash: Callable[[str], None] = lambda point: None,
    ) -> None:
        self.store = store
        self.name = name
        self.on_unknown = on_unknown
        self.batch_size = batch_size
        self.crash = crash
        self.counts = {"events_sent": 0, "events_rejected": 0, "events_unknown": 0}

    def recover(self) -> None:
        """Rows left ``sending`` by a killed run: their fate at the destination is unknown."""
        if self.on_unknown == "resend":
            self.store.recover(True, "resent after an unknown outcome")
        else:
            self.counts["events_unknown"] += self.store.recover(
                False,
                "the run stopped after sending and before recording the answer; "
                "not re-sent (at most once)",
            )

    def event(self, row: OutboxRow) -> SegmentEvent:
        return SegmentEvent(
            event_id=event_id(
                self.name, row.person_id, row.segment_key, row.change, row.changed_at
            ),
            user_id=row.user_id,
            segment_key=row.segment_key,
            change=row.change,
            changed_at=row.changed_at,
            person_id=row.person_id,
            source=self.name,
        )

    def send_all(self, dest: SendsEvents, transport: Transport) -> int:
        """Send every pending row; returns how many requests were made. A DestinationError
        (the target certainly did not take the request) leaves the rows pending and is
        raised with that said."""
        sent = 0
        while True:
            rows = self.store.claim(self.batch_size, uuid.uuid4().hex)
            if not rows:
                return sent
            self.crash("event_wal")
            sent += 1
            try:
                results = dest.send_events(transport, [self.event(r) for r in rows])
            except OutcomeUnknownError as exc:
                self._unknown(rows, str(exc))
                continue
            except DestinationError as exc:
                self.store.settle([(r, "pending", f"not sent: {exc}") for r in rows])
                raise DestinationError(f"{exc}; the events stay queued for the next run") from None
            self.crash("event_ack")
            self._acknowledge(rows, results)

    def _unknown(self, rows: list[OutboxRow], why: str) -> None:
        settle: list[tuple[OutboxRow, str, str | None]]
        if self.on_unknown == "resend":
            settle = [
                (r, "pending", f"unknown outcome ({why}); will resend")
                if r.attempts < MAX_RESENDS
                else (r, "unknown", f"unknown outcome ({why}); gave up")
                for r in rows
            ]
            self.counts["events_unknown"] += sum(1 for _, st, _ in settle if st == "unknown")
        else:
            settle = [(r, "unknown", f"unknown outcome ({why}); not re-sent") for r in rows]
            self.counts["events_unknown"] += len(rows)
        self.store.settle(settle)
        log.warning("events: %d event(s) with an unknown outcome: %s", len(rows), why)

    def _acknowledge(self, rows: list[OutboxRow], results: list[Any]) -> None:
        settle: list[tuple[OutboxRow, str, str | None]] = [
            (r, "sent", None)
            if res.outcome is Outcome.ACKED
            else (r, "rejected", res.error or "rejected")
            for r, res in zip(rows, results, strict=True)
        ]
        self.store.settle(settle)
        ok = sum(1 for _, st, _ in settle if st == "sent")
        self.counts["events_sent"] += ok
        self.counts["events_rejected"] += len(rows) - ok


class WarehouseOutboxStore:
    """:class:`OutboxStore` in the warehouse table ``reverse_etl.event_outbox``."""

    def __init__(self, wh: Warehouse, sync_name: str) -> None:
        self.wh = wh
        self.sync_name = sync_name

    def claim(self, size: int, attempt_id: str) -> list[OutboxRow]:
        rows = [
            OutboxRow(str(p), str(u), str(s), str(c), at, int(n) + 1)
            for p, u, s, c, at, n in self.wh.query(
                f"SELECT person_id, user_id, segment_key, change, changed_at, attempts "
                f"FROM {T_OUTBOX} WHERE sync_name = ? AND status = 'pending' "
                "ORDER BY changed_at, person_id, segment_key, change LIMIT ?",
                (self.sync_name, size),
            )
        ]
        if rows:
            with self.wh.transaction():
                self._set(rows, "sending", attempt_id=attempt_id, bump=True)
        return rows

    def settle(self, rows: list[tuple[OutboxRow, str, str | None]]) -> None:
        groups: dict[tuple[str, str | None], list[OutboxRow]] = {}
        for row, status, error in rows:
            groups.setdefault((status, error), []).append(row)
        with self.wh.transaction():
            for (status, error), group in groups.items():
                self._set(group, status, error=error, sent=status == "sent")

    def recover(self, resend: bool, why: str) -> int:
        n = int(
            self.wh.query(
                f"SELECT count(*) FROM {T_OUTBOX} WHERE sync_name = ? AND status = 'sending'",
                (self.sync_name,),
            )[0][0]
        )
        self.wh.execute(
            f"UPDATE {T_OUTBOX} SET status = ?, error = ? "
            "WHERE sync_name = ? AND status = 'sending'",
            ("pending" if resend else "unknown", why, self.sync_name),
        )
        return n

    def _set(
        self,
        rows: list[OutboxRow],
        status: str,
        *,
        attempt_id: str | None = None,
        error: str | None = None,
        bump: bool = False,
        sent: bool = False,
    ) -> None:
        if not rows:
            return
        cond = " OR ".join(
            "(person_id = ? AND segment_key = ? AND change = ? AND changed_at = ?)" for _ in rows
        )
        params: list[Any] = [status, error, now() if sent else None]
        sets = "status = ?, error = ?, sent_at = ?"
        if attempt_id is not None:
            sets += ", attempt_id = ?"
            params.append(attempt_id)
        if bump:
            sets += ", attempts = attempts + 1"
        params.append(self.sync_name)
        for r in rows:
            params.extend([r.person_id, r.segment_key, r.change, r.changed_at])
        self.wh.execute(f"UPDATE {T_OUTBOX} SET {sets} WHERE sync_name = ? AND ({cond})", params)


class EventOutbox:
    """The outbox of one batch sync: enqueue from the changes model, then the shared
    :class:`OutboxSender` protocol over :class:`WarehouseOutboxStore`."""

    def __init__(
        self,
        wh: Warehouse,
        sync_name: str,
        spec: EventSpec,
        changes: Relation,
        crash: Callable[[str], None] = lambda point: None,
    ) -> None:
        self.wh = wh
        self.sync_name = sync_name
        self.opt = spec
        self.changes = changes
        self.sender = OutboxSender(
            WarehouseOutboxStore(wh, sync_name), sync_name, spec.on_unknown, spec.batch_size, crash
        )
        self.counts = {"events_enqueued": 0, "events_requests": 0}

    # --- enqueue ----------------------------------------------------------------------------
    def _changes_relation(self) -> str:
        rel = self.changes
        cols = self.wh.columns(rel.schema, rel.identifier)
        need = ["person_id", "user_id", "segment_key", self.opt.change_column, "changed_at"]
        missing = [c for c in need if c.lower() not in cols]
        if missing:
            raise ModelDataError(
                f"sync {self.sync_name!r}: events model {self.opt.model!r} has no column(s) "
                f"{', '.join(missing)}; set options.events.change_column or fix the model"
            )
        return rel.sql(self.wh.quote)

    def enqueue(self) -> int:
        rel = self._changes_relation()
        q = self.wh.quote
        first = not self.wh.query(
            f"SELECT 1 FROM {T_OUTBOX_SYNCS} WHERE sync_name = ?", (self.sync_name,)
        )
        status = "skipped" if first and not self.opt.backfill else "pending"
        before = self.pending_count()
        with self.wh.transaction():
            self.wh.execute(
                f"INSERT INTO {T_OUTBOX} (sync_name, person_id, user_id, segment_key, change, "
                "changed_at, status, attempts, enqueued_at) "
                f"SELECT DISTINCT ?, COALESCE(CAST(c.{q('person_id')} AS VARCHAR), ''), "
                f"CAST(c.{q('user_id')} AS VARCHAR), CAST(c.{q('segment_key')} AS VARCHAR), "
                f"CAST(c.{q(self.opt.change_column)} AS VARCHAR), c.{q('changed_at')}, ?, 0, ? "
                f"FROM {rel} c JOIN {T_STATE} st ON st.sync_name = ? "
                f"AND st.key = CAST(c.{q('user_id')} AS VARCHAR) "
                f"WHERE c.{q('changed_at')} IS NOT NULL "
                f"AND c.{q(self.opt.change_column)} IN ('entered', 'exited') "
                "ON CONFLICT (sync_name, person_id, segment_key, change, changed_at) DO NOTHING",
                (self.sync_name, status, now(), self.sync_name),
            )
            if first:
                self.wh.execute(
                    f"INSERT INTO {T_OUTBOX_SYNCS} (sync_name, started_at) VALUES (?, ?)",
                    (self.sync_name, now()),
                )
        added = self.pending_count() - before
        self.counts["events_enqueued"] = max(0, added)
        return added

    def pending_count(self) -> int:
        return int(
            self.wh.query(
                f"SELECT count(*) FROM {T_OUTBOX} WHERE sync_name = ? AND status = 'pending'",
                (self.sync_name,),
            )[0][0]
        )

    def run(self, dest: EventsAfterSync, transport: HttpTransport) -> dict[str, int]:
        ensure(self.wh)
        self.sender.recover()
        self.enqueue()
        try:
            self.sender.send_all(dest, transport)
        finally:
            self.counts["events_requests"] = transport.requests
        return {**self.sender.counts, **self.counts}
