"""Exactly-once delivery of segment entered / exited events to Braze (ADR 0005).

Braze appends every event it receives; it has no idempotency key and no read-back. So the
state that makes events exactly-once lives with us, in ``reverse_etl.event_outbox``:

1. **Enqueue** (SQL, in the warehouse): every row of the changes model whose user the Braze
   sync has acknowledged (``sync_state``: in the consent-filtered mart and present in Braze)
   is inserted once, keyed by (sync, person, segment, change, changed_at);
   ``ON CONFLICT DO NOTHING`` makes re-enqueueing free. Without ``backfill`` the changes that
   exist on the first run are stored as ``skipped``.
2. **Claim** (one transaction): up to one request of ``pending`` rows become ``sending`` with
   an attempt id: the write-ahead record, committed before the request leaves.
3. **Send**: ``POST /users/track`` with events only. Retries happen only when Braze certainly
   did not process the request: an HTTP answer of 429 or 5xx (Braze processes nothing on
   those), or a connection that never opened. Any other failure (read timeout, connection
   dropped after sending) is *unknown*.
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
import random
import time
import uuid
from datetime import datetime
from typing import Any

import requests

from reverse_etl import manifest as dbt_manifest
from reverse_etl.destinations.base import Limits
from reverse_etl.errors import DestinationError, ModelDataError, redact
from reverse_etl.ratelimit import NoLimiter, RollingWindowLimiter
from reverse_etl.retry import RetryPolicy
from reverse_etl.state import SCHEMA, now

log = logging.getLogger("reverse_etl")

T_OUTBOX = f"{SCHEMA}.event_outbox"
T_OUTBOX_SYNCS = f"{SCHEMA}.event_outbox_syncs"
DDL = [
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"""CREATE TABLE IF NOT EXISTS {T_OUTBOX} (
        sync_name VARCHAR NOT NULL,
        person_id VARCHAR NOT NULL,
        user_id VARCHAR NOT NULL,
        segment_key VARCHAR NOT NULL,
        change VARCHAR NOT NULL,
        changed_at TIMESTAMP NOT NULL,
        status VARCHAR NOT NULL,
        attempt_id VARCHAR,
        attempts INTEGER NOT NULL DEFAULT 0,
        error VARCHAR,
        enqueued_at TIMESTAMP NOT NULL,
        sent_at TIMESTAMP,
        PRIMARY KEY (sync_name, person_id, segment_key, change, changed_at))""",
    f"""CREATE TABLE IF NOT EXISTS {T_OUTBOX_SYNCS} (
        sync_name VARCHAR PRIMARY KEY,
        started_at TIMESTAMP NOT NULL)""",
]
KEY_COLS = ("person_id", "segment_key", "change", "changed_at")
MAX_RESENDS = 3


class Unknown(Exception):
    """The request may or may not have reached Braze."""


def event_id(sync: str, person: str, segment: str, change: str, changed_at: datetime) -> str:
    raw = "\x1f".join([sync, person, segment, change, changed_at.isoformat()])
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def _certainly_not_sent(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


class BrazeEventSender:
    def __init__(self, engine: Any, sync: Any, options: Any, limits: Limits):
        self.engine = engine
        self.wh = engine.wh
        self.sync = sync
        self.opt = options
        self.limits = limits
        self.policy: RetryPolicy = engine.retry_policy or RetryPolicy.from_env()
        self.crash = getattr(engine, "crash", lambda point: None)
        self.counts = {
            "events_sent": 0,
            "events_rejected": 0,
            "events_unknown": 0,
            "events_enqueued": 0,
            "events_requests": 0,
        }
        self.rng = random.Random()

    # --- schema and enqueue ----------------------------------------------------------------
    def ensure(self) -> None:
        for stmt in DDL:
            self.wh.execute(stmt)

    def _changes_relation(self) -> str:
        mf = self.engine.manifest()
        rel = dbt_manifest.resolve_model(mf, self.opt.model, self.engine.project.manifest_path)
        cols = self.wh.columns(rel.schema, rel.identifier)
        need = ["person_id", "user_id", "segment_key", self.opt.change_column, "changed_at"]
        missing = [c for c in need if c.lower() not in cols]
        if missing:
            raise ModelDataError(
                f"sync {self.sync.name!r}: events model {self.opt.model!r} has no column(s) "
                f"{', '.join(missing)}; set options.events.change_column or fix the model"
            )
        return rel.sql(self.wh.quote)

    def enqueue(self) -> int:
        from reverse_etl.state import T_STATE

        rel = self._changes_relation()
        q = self.wh.quote
        first = not self.wh.query(
            f"SELECT 1 FROM {T_OUTBOX_SYNCS} WHERE sync_name = ?", (self.sync.name,)
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
                (self.sync.name, status, now(), self.sync.name),
            )
            if first:
                self.wh.execute(
                    f"INSERT INTO {T_OUTBOX_SYNCS} (sync_name, started_at) VALUES (?, ?)",
                    (self.sync.name, now()),
                )
        added = self.pending_count() - before
        self.counts["events_enqueued"] = max(0, added)
        return added

    def pending_count(self) -> int:
        return int(
            self.wh.query(
                f"SELECT count(*) FROM {T_OUTBOX} WHERE sync_name = ? AND status = 'pending'",
                (self.sync.name,),
            )[0][0]
        )

    # --- crash recovery ---------------------------------------------------------------------
    def recover(self) -> None:
        """Rows left ``sending`` by a killed run: their fate at Braze is unknown."""
        if self.opt.on_unknown == "resend":
            self.wh.execute(
                f"UPDATE {T_OUTBOX} SET status = 'pending', error = 'resent after an unknown "
                "outcome' WHERE sync_name = ? AND status = 'sending'",
                (self.sync.name,),
            )
        else:
            n = int(
                self.wh.query(
                    f"SELECT count(*) FROM {T_OUTBOX} WHERE sync_name = ? AND status = 'sending'",
                    (self.sync.name,),
                )[0][0]
            )
            self.wh.execute(
                f"UPDATE {T_OUTBOX} SET status = 'unknown', error = 'the run stopped after "
                "sending and before recording the answer; not re-sent (at most once)' "
                "WHERE sync_name = ? AND status = 'sending'",
                (self.sync.name,),
            )
            self.counts["events_unknown"] += n

    # --- sending ------------------------------------------------------------------------------
    def _claim(self, size: int) -> tuple[str, list[tuple]]:
        rows = self.wh.query(
            f"SELECT person_id, user_id, segment_key, change, changed_at, attempts FROM {T_OUTBOX} "
            "WHERE sync_name = ? AND status = 'pending' "
            "ORDER BY changed_at, person_id, segment_key, change LIMIT ?",
            (self.sync.name, size),
        )
        attempt = uuid.uuid4().hex
        if rows:
            with self.wh.transaction():
                self._set(rows, "sending", attempt_id=attempt, bump=True)
        return attempt, rows

    def _set(
        self,
        rows: list[tuple],
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
        params.append(self.sync.name)
        for r in rows:
            params.extend([r[0], r[2], r[3], r[4]])
        self.wh.execute(f"UPDATE {T_OUTBOX} SET {sets} WHERE sync_name = ? AND ({cond})", params)

    def _event(self, row: tuple) -> dict[str, Any]:
        person, user, segment, change, changed_at = row[:5]
        name = self.opt.entered_name if change == "entered" else self.opt.exited_name
        ts = (
            changed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
            if isinstance(changed_at, datetime)
            else str(changed_at)
        )
        return {
            "external_id": user,
            "name": name,
            "time": ts,
            "properties": {
                "segment": segment,
                "change": change,
                "audiences_sync": self.sync.name,
                "audiences_event_id": event_id(self.sync.name, person, segment, change, changed_at),
            },
        }

    def _post(
        self, session: requests.Session, url: str, body: dict[str, Any], limiter: Any
    ) -> requests.Response:
        """POST once per attempt; retry only when Braze certainly processed nothing."""
        from reverse_etl.destinations.braze import reset_wait

        last = ""
        for attempt in range(1, self.policy.max_attempts + 1):
            limiter.acquire()
            self.counts["events_requests"] += 1
            wait = None
            try:
                resp = session.post(url, json=body, timeout=self.policy.timeout_seconds)
            except requests.ConnectionError as exc:
                if not _certainly_not_sent(exc):
                    raise Unknown(f"connection lost after sending ({type(exc).__name__})") from None
                last = f"connection failed ({type(exc).__name__})"
            except requests.Timeout:
                raise Unknown(f"no answer within {self.policy.timeout_seconds}s") from None
            else:
                if resp.status_code != 429 and resp.status_code < 500:
                    return resp
                last = f"HTTP {resp.status_code}"
                wait = reset_wait(resp, reset_header=resp.status_code == 429)
            if attempt == self.policy.max_attempts:
                break
            exp = min(self.policy.max_wait_seconds, self.policy.base_seconds * 2 ** (attempt - 1))
            time.sleep(wait if wait is not None else self.rng.uniform(0, exp))
        raise DestinationError(
            f"Braze POST /users/track (events): {last}; gave up after "
            f"{self.policy.max_attempts} attempts; the events stay queued for the next run"
        )

    def send_all(self) -> None:
        from reverse_etl.destinations.braze import braze_http_config, check_braze_response

        base, headers = braze_http_config()
        lim = self.limits
        limiter = (
            RollingWindowLimiter(lim.requests_per_window, lim.window_seconds)
            if lim.requests_per_window
            else NoLimiter()
        )
        url = base.rstrip("/") + "/users/track"
        with requests.Session() as session:
            session.headers.update(headers)
            while True:
                _, rows = self._claim(lim.batch_size)
                if not rows:
                    return
                self.crash("event_wal")
                body = {"events": [self._event(r) for r in rows]}
                try:
                    resp = self._post(session, url, body, limiter)
                except Unknown as exc:
                    self._unknown(rows, str(exc))
                    continue
                except DestinationError:
                    self._set(rows, "pending", error="not sent: retries exhausted")
                    raise
                self.crash("event_ack")
                self._acknowledge(rows, resp, check_braze_response)

    def _unknown(self, rows: list[tuple], why: str) -> None:
        if self.opt.on_unknown == "resend":
            again = [r for r in rows if int(r[5]) + 1 < MAX_RESENDS]
            given_up = [r for r in rows if int(r[5]) + 1 >= MAX_RESENDS]
            self._set(again, "pending", error=f"unknown outcome ({why}); will resend")
            self._set(given_up, "unknown", error=f"unknown outcome ({why}); gave up")
            self.counts["events_unknown"] += len(given_up)
        else:
            self._set(rows, "unknown", error=f"unknown outcome ({why}); not re-sent")
            self.counts["events_unknown"] += len(rows)
        log.warning("Braze events: %d event(s) with an unknown outcome: %s", len(rows), why)

    def _acknowledge(self, rows: list[tuple], resp: requests.Response, check: Any) -> None:
        from reverse_etl.destinations.braze import json_body

        body = json_body(resp)
        errors = {
            int(e["index"]): redact(str(e.get("type") or "rejected"))
            for e in body.get("errors") or []
            if isinstance(e, dict)
            and e.get("input_array") == "events"
            and isinstance(e.get("index"), int)
        }
        if resp.status_code >= 300 and not (resp.status_code == 400 and errors):
            self._set(rows, "pending", error=f"HTTP {resp.status_code}: not processed")
            check(resp)  # raises with Braze's message (credentials, bad request)
            raise DestinationError(f"Braze events: unexpected status {resp.status_code}")
        ok = [r for i, r in enumerate(rows) if i not in errors and resp.status_code < 300]
        with self.wh.transaction():
            self._set(ok, "sent", sent=True)
            for i, r in enumerate(rows):
                if i in errors or resp.status_code >= 300:
                    self._set([r], "rejected", error=errors.get(i, "rejected by Braze"))
        self.counts["events_sent"] += len(ok)
        self.counts["events_rejected"] += len(rows) - len(ok)

    def run(self, run_id: str) -> dict[str, int]:
        self.ensure()
        self.recover()
        self.enqueue()
        self.send_all()
        return dict(self.counts)


def outbox_summary(wh: Any, sync_name: str) -> dict[str, int]:
    rows = wh.query(
        f"SELECT status, count(*) FROM {T_OUTBOX} WHERE sync_name = ? GROUP BY 1", (sync_name,)
    )
    return {str(s): int(n) for s, n in rows}
