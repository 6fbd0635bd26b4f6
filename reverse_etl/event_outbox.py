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
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from reverse_etl.core.clock import now
from reverse_etl.core.errors import DestinationError, ModelDataError
from reverse_etl.core.records import Outcome
from reverse_etl.destinations.capabilities import EventsAfterSync, EventSpec, SegmentEvent
from reverse_etl.http.transport import HttpTransport, OutcomeUnknownError
from reverse_etl.manifest import Relation
from reverse_etl.state_schema import T_OUTBOX, T_OUTBOX_SYNCS, T_STATE, ensure
from reverse_etl.warehouse.base import Warehouse

log = logging.getLogger("reverse_etl")

MAX_RESENDS = 3
Row = tuple[Any, ...]


def event_id(sync: str, person: str, segment: str, change: str, changed_at: datetime) -> str:
    raw = "\x1f".join([sync, person, segment, change, changed_at.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class EventOutbox:
    """The outbox of one sync: enqueue, claim, send through the destination, acknowledge."""

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
        self.crash = crash
        self.counts = {
            "events_sent": 0,
            "events_rejected": 0,
            "events_unknown": 0,
            "events_enqueued": 0,
            "events_requests": 0,
        }

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

    # --- crash recovery ---------------------------------------------------------------------
    def recover(self) -> None:
        """Rows left ``sending`` by a killed run: their fate at the destination is unknown."""
        if self.opt.on_unknown == "resend":
            self.wh.execute(
                f"UPDATE {T_OUTBOX} SET status = 'pending', error = 'resent after an unknown "
                "outcome' WHERE sync_name = ? AND status = 'sending'",
                (self.sync_name,),
            )
        else:
            n = int(
                self.wh.query(
                    f"SELECT count(*) FROM {T_OUTBOX} WHERE sync_name = ? AND status = 'sending'",
                    (self.sync_name,),
                )[0][0]
            )
            self.wh.execute(
                f"UPDATE {T_OUTBOX} SET status = 'unknown', error = 'the run stopped after "
                "sending and before recording the answer; not re-sent (at most once)' "
                "WHERE sync_name = ? AND status = 'sending'",
                (self.sync_name,),
            )
            self.counts["events_unknown"] += n

    # --- sending ------------------------------------------------------------------------------
    def _claim(self, size: int) -> list[Row]:
        rows = self.wh.query(
            f"SELECT person_id, user_id, segment_key, change, changed_at, attempts FROM {T_OUTBOX} "
            "WHERE sync_name = ? AND status = 'pending' "
            "ORDER BY changed_at, person_id, segment_key, change LIMIT ?",
            (self.sync_name, size),
        )
        if rows:
            with self.wh.transaction():
                self._set(rows, "sending", attempt_id=uuid.uuid4().hex, bump=True)
        return rows

    def _set(
        self,
        rows: list[Row],
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
            params.extend([r[0], r[2], r[3], r[4]])
        self.wh.execute(f"UPDATE {T_OUTBOX} SET {sets} WHERE sync_name = ? AND ({cond})", params)

    def _event(self, row: Row) -> SegmentEvent:
        person, user, segment, change, changed_at = row[:5]
        return SegmentEvent(
            event_id=event_id(self.sync_name, person, segment, change, changed_at),
            user_id=str(user),
            segment_key=str(segment),
            change=str(change),
            changed_at=changed_at,
        )

    def send_all(self, dest: EventsAfterSync, transport: HttpTransport) -> None:
        try:
            while True:
                rows = self._claim(self.opt.batch_size)
                if not rows:
                    return
                self.crash("event_wal")
                try:
                    results = dest.send_events(transport, [self._event(r) for r in rows])
                except OutcomeUnknownError as exc:
                    self._unknown(rows, str(exc))
                    continue
                except DestinationError as exc:
                    self._set(rows, "pending", error=f"not sent: {exc}")
                    raise DestinationError(
                        f"{exc}; the events stay queued for the next run"
                    ) from None
                self.crash("event_ack")
                self._acknowledge(rows, results)
        finally:
            self.counts["events_requests"] = transport.requests

    def _unknown(self, rows: list[Row], why: str) -> None:
        if self.opt.on_unknown == "resend":
            again = [r for r in rows if int(r[5]) + 1 < MAX_RESENDS]
            given_up = [r for r in rows if int(r[5]) + 1 >= MAX_RESENDS]
            self._set(again, "pending", error=f"unknown outcome ({why}); will resend")
            self._set(given_up, "unknown", error=f"unknown outcome ({why}); gave up")
            self.counts["events_unknown"] += len(given_up)
        else:
            self._set(rows, "unknown", error=f"unknown outcome ({why}); not re-sent")
            self.counts["events_unknown"] += len(rows)
        log.warning("events: %d event(s) with an unknown outcome: %s", len(rows), why)

    def _acknowledge(self, rows: list[Row], results: list[Any]) -> None:
        ok = [r for r, res in zip(rows, results, strict=True) if res.outcome is Outcome.ACKED]
        with self.wh.transaction():
            self._set(ok, "sent", sent=True)
            for r, res in zip(rows, results, strict=True):
                if res.outcome is not Outcome.ACKED:
                    self._set([r], "rejected", error=res.error or "rejected")
        self.counts["events_sent"] += len(ok)
        self.counts["events_rejected"] += len(rows) - len(ok)

    def run(self, dest: EventsAfterSync, transport: HttpTransport) -> dict[str, int]:
        ensure(self.wh)
        self.recover()
        self.enqueue()
        self.send_all(dest, transport)
        return dict(self.counts)
