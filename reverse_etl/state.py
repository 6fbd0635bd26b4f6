"""Sync state in the warehouse: runs, per-key state, in-flight batches, rejections, replace
staging, the account each sync's state belongs to. The tables themselves are defined in
:mod:`reverse_etl.state_schema`."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from reverse_etl.core.clock import now
from reverse_etl.core.errors import StateAccountError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import CampaignNaming
from reverse_etl.state_schema import (
    SYNC_STATE_TABLES,
    T_ACCOUNTS,
    T_CAMPAIGNS,
    T_INFLIGHT,
    T_METRICS,
    T_REJECTIONS,
    T_REPLACE,
    T_REQUESTS,
    T_RUNS,
    T_STATE,
    ensure,
)
from reverse_etl.warehouse.base import Warehouse

COUNTERS = (
    "added",
    "changed",
    "removed",
    "unchanged",
    "rejected",
    "reconciled",
    "requests",
    "retries",
)


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    sync_name: str
    destination: str
    mode: str
    started_at: datetime
    ended_at: datetime | None
    status: str
    counts: dict[str, int]
    error: str | None


@dataclass(frozen=True)
class Rejection:
    sync_name: str
    key: str
    action: str
    error: str
    attempts: int
    first_seen_at: datetime
    last_seen_at: datetime


def _in(keys: Sequence[str]) -> str:
    return "(" + ", ".join("?" for _ in keys) + ")"


class StateStore:
    def __init__(self, wh: Warehouse):
        self.wh = wh
        self._rejections_known: dict[str, bool] = {}
        self._fresh_adds: set[str] = set()

    def _may_have_rejections(self, sync_name: str) -> bool:
        """Skip the rejection clean-up of every batch when the sync has none (cached)."""
        if sync_name not in self._rejections_known:
            self._rejections_known[sync_name] = self.rejection_count(sync_name) > 0
        return self._rejections_known[sync_name]

    def ensure(self) -> None:
        ensure(self.wh)

    # --- the account the state belongs to ------------------------------------------------
    def bound_account(self, sync_name: str) -> str | None:
        rows = self.wh.query(f"SELECT account FROM {T_ACCOUNTS} WHERE sync_name = ?", (sync_name,))
        return str(rows[0][0]) if rows else None

    def bind_account(
        self, sync_name: str, destination: str, account: str, *, rebind: bool = False
    ) -> bool:
        """Bind the sync's state to ``account`` (the destination account it describes).

        The first run binds (state written before bindings existed is taken to belong to
        the current account). A run pointed at another account is refused, because the
        state says nothing about what that account holds; with ``rebind`` the old state is
        forgotten and the sync starts fresh on the new account. Returns True when it did."""
        bound = self.bound_account(sync_name)
        if bound == account:
            return False
        if bound is not None and not rebind:
            members = self.member_count(sync_name)
            raise StateAccountError(
                f"sync {sync_name!r} now points at another {destination} account "
                f"({account}) than the one its state describes ({bound}). Its state "
                f"({members} member(s)) says nothing about the new account, so nothing is "
                f"sent. If the change is intended, run `audiences sync {sync_name} "
                "--new-account` once: it forgets the old account's state and sends every row "
                "to the new one (the old account keeps its members). Otherwise restore the "
                "previous base URL / account settings."
            )
        with self.wh.transaction():
            if bound is not None:
                for t in SYNC_STATE_TABLES:
                    self.wh.execute(f"DELETE FROM {t} WHERE sync_name = ?", (sync_name,))
                self._rejections_known.pop(sync_name, None)
            self.wh.execute(
                f"INSERT INTO {T_ACCOUNTS} (sync_name, destination, account, bound_at) "
                "VALUES (?, ?, ?, ?)",
                (sync_name, destination, account, now()),
            )
        return bound is not None

    # --- campaign naming --------------------------------------------------------------
    def record_campaign(
        self, sync_name: str, destination: str, naming: CampaignNaming | None
    ) -> None:
        """Keep the sync's ``utm_campaign`` convention for the mart campaign_attribution
        (none: the sync declares no convention any more, its row goes)."""
        with self.wh.transaction():
            self.wh.execute(f"DELETE FROM {T_CAMPAIGNS} WHERE sync_name = ?", (sync_name,))
            if naming is not None:
                self.wh.execute(
                    f"INSERT INTO {T_CAMPAIGNS} (sync_name, destination, utm_campaign, "
                    "campaign_prefix, campaign_suffix, has_segment_key, segment_key, "
                    "recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        sync_name,
                        destination,
                        naming.template,
                        naming.prefix,
                        naming.suffix,
                        naming.has_segment_key,
                        naming.segment_key,
                        now(),
                    ),
                )

    # --- Google Data Manager request ids ---------------------------------------------------
    def record_request_ids(self, sync_name: str, run_id: str, request_ids: Sequence[str]) -> None:
        self.wh.insert_rows(
            T_REQUESTS,
            ("sync_name", "run_id", "request_id", "recorded_at"),
            [(sync_name, run_id, rid, now()) for rid in request_ids],
        )

    # --- runs ----------------------------------------------------------------------
    def start_run(self, sync_name: str, destination: str, mode: str) -> str:
        run_id = f"{now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        with self.wh.transaction():
            self.wh.execute(
                f"UPDATE {T_RUNS} SET status = 'interrupted', "
                "error = COALESCE(error, 'the process stopped before the run finished') "
                "WHERE sync_name = ? AND status = 'running'",
                (sync_name,),
            )
            self.wh.execute(
                f"INSERT INTO {T_RUNS} (run_id, sync_name, destination, mode, started_at, status) "
                "VALUES (?, ?, ?, ?, ?, 'running')",
                (run_id, sync_name, destination, mode, now()),
            )
        return run_id

    def add_counts(self, run_id: str, counts: dict[str, int]) -> None:
        counts = {k: v for k, v in counts.items() if v}
        if not counts:
            return
        sets = ", ".join(f"{k} = {k} + ?" for k in counts)
        self.wh.execute(f"UPDATE {T_RUNS} SET {sets} WHERE run_id = ?", [*counts.values(), run_id])

    def finish_run(
        self,
        run_id: str,
        status: str,
        error: str | None = None,
        counts: dict[str, int] | None = None,
    ) -> None:
        with self.wh.transaction():
            if counts:
                self.add_counts(run_id, counts)
            self.wh.execute(
                f"UPDATE {T_RUNS} SET status = ?, ended_at = ?, error = ? WHERE run_id = ?",
                (status, now(), error, run_id),
            )

    def runs(self, sync_name: str | None = None, limit: int = 10) -> list[RunRecord]:
        where, params = ("WHERE sync_name = ?", [sync_name]) if sync_name else ("", [])
        rows = self.wh.query(
            f"SELECT run_id, sync_name, destination, mode, started_at, ended_at, status, "
            f"{', '.join(COUNTERS)}, error FROM {T_RUNS} {where} "
            "ORDER BY started_at DESC, run_id DESC LIMIT ?",
            [*params, limit],
        )
        out = []
        for r in rows:
            counts = dict(zip(COUNTERS, (int(v) for v in r[7 : 7 + len(COUNTERS)]), strict=True))
            out.append(RunRecord(r[0], r[1], r[2], r[3], r[4], r[5], r[6], counts, r[-1]))
        return out

    # --- run metrics -------------------------------------------------------------------
    def record_metrics(self, run_id: str, sync_name: str, metrics: dict[str, int]) -> None:
        """Named counts of a run (``audience_size``, ``dropped_phone``, ``meta_num_received``
        ...), written once when the run ends."""
        self.wh.insert_rows(
            T_METRICS,
            ("run_id", "sync_name", "metric", "value"),
            [(run_id, sync_name, k, int(v)) for k, v in sorted(metrics.items())],
            conflict=("run_id", "metric"),
            update=("value",),
        )

    def metrics(self, run_ids: Sequence[str]) -> dict[str, dict[str, int]]:
        """run_id -> {metric: value} of the given runs."""
        if not run_ids:
            return {}
        rows = self.wh.query(
            f"SELECT run_id, metric, value FROM {T_METRICS} WHERE run_id IN {_in(run_ids)} "
            "ORDER BY run_id, metric",
            list(run_ids),
        )
        out: dict[str, dict[str, int]] = {}
        for run_id, metric, value in rows:
            out.setdefault(run_id, {})[metric] = int(value)
        return out

    def last_metric(self, sync_name: str, metric: str) -> int | None:
        """``metric`` of the sync's latest run that sent its audience (success or partial)."""
        rows = self.wh.query(
            f"SELECT m.value FROM {T_METRICS} m JOIN {T_RUNS} r ON r.run_id = m.run_id "
            "WHERE m.sync_name = ? AND m.metric = ? AND r.status IN ('success', 'partial') "
            "ORDER BY r.started_at DESC, r.run_id DESC LIMIT 1",
            (sync_name, metric),
        )
        return int(rows[0][0]) if rows else None

    # --- members ---------------------------------------------------------------------
    def member_count(self, sync_name: str) -> int:
        return int(
            self.wh.query(f"SELECT count(*) FROM {T_STATE} WHERE sync_name = ?", (sync_name,))[0][0]
        )

    def forget(self, sync_name: str) -> None:
        """Drop all state of a sync (used by tests and by `--full-resync` never)."""
        with self.wh.transaction():
            for t in SYNC_STATE_TABLES:
                self.wh.execute(f"DELETE FROM {t} WHERE sync_name = ?", (sync_name,))
        self._rejections_known.pop(sync_name, None)

    # --- write-ahead in-flight batches ---------------------------------------------------
    def write_inflight(
        self, sync_name: str, run_id: str, batch_id: str, records: Sequence[Record]
    ) -> None:
        """Write-ahead record of one batch (one row: the batch's records as JSON),
        committed before the first request of the batch leaves."""
        doc = orjson.dumps(
            [[r.key, r.action, r.fingerprint, r.dest_id, r.fields] for r in records]
        ).decode()
        self.wh.execute(
            f"INSERT INTO {T_INFLIGHT} (sync_name, batch_id, run_id, rows_count, records, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?)",
            (sync_name, batch_id, run_id, len(records), doc, now()),
        )

    def inflight(self, sync_name: str) -> list[tuple[str, list[Record]]]:
        """In-flight batches left by a run that stopped: [(batch_id, records)]."""
        rows = self.wh.query(
            f"SELECT batch_id, records FROM {T_INFLIGHT} WHERE sync_name = ? "
            "ORDER BY created_at, batch_id",
            (sync_name,),
        )
        return [
            (
                bid,
                [
                    Record(key=k, action=a, fingerprint=fp, dest_id=d, fields=f)
                    for k, a, fp, d, f in orjson.loads(doc)
                ],
            )
            for bid, doc in rows
        ]

    def inflight_count(self, sync_name: str) -> int:
        """Number of in-flight batches."""
        return int(
            self.wh.query(f"SELECT count(*) FROM {T_INFLIGHT} WHERE sync_name = ?", (sync_name,))[
                0
            ][0]
        )

    # --- the per-batch commit -------------------------------------------------------------
    @contextmanager
    def fresh_adds(self, sync_name: str) -> Iterator[None]:
        """While the engine sends the diff it wrote after reconciling (and holds the sync's
        lock), an ``add`` is a key the state does not have: :meth:`commit_batch` then
        inserts the acknowledged adds with a plain INSERT instead of an upsert (on DuckDB
        the upsert of 10,000 new keys costs about 1.7 times the insert: decision 0018,
        "Third round"). Should a key be there after all (the model rebuilt with a duplicate key
        between the key check and the diff), the insert fails and the commit is rolled
        back: the run stops with the batch in flight, and the next run's reconcile, outside
        this context, upserts it."""
        self._fresh_adds.add(sync_name)
        try:
            yield
        finally:
            self._fresh_adds.discard(sync_name)

    def commit_batch(
        self,
        sync_name: str,
        run_id: str,
        pairs: Sequence[tuple[Record, RowResult]],
        counts: dict[str, int],
        batch_id: str | None = None,
    ) -> None:
        """One transaction: state of acknowledged rows, rejections, run counters, and the
        in-flight records of the batch cleared."""
        ts = now()
        upserted: list[tuple[Any, ...]] = []
        inserted: list[tuple[Any, ...]] = []  # adds known to be new keys (:meth:`fresh_adds`)
        removed: list[str] = []
        rejected: list[tuple[Record, RowResult]] = []
        acked = Outcome.ACKED
        fresh = sync_name in self._fresh_adds
        for rec, res in pairs:  # one pass: this runs for every row of a sync
            if res.outcome is acked:
                if rec.action == "remove":
                    removed.append(rec.key)
                else:
                    dest_id = res.dest_id or rec.dest_id
                    row = (sync_name, rec.key, rec.fingerprint, dest_id, ts, run_id)
                    (inserted if fresh and rec.action == "add" else upserted).append(row)
            elif res.outcome is Outcome.REJECTED:
                rejected.append((rec, res))
        state_columns = ("sync_name", "key", "fingerprint", "dest_id", "synced_at", "run_id")
        with self.wh.transaction():
            self.wh.insert_rows(T_STATE, state_columns, inserted)
            self.wh.insert_rows(
                T_STATE,
                state_columns,
                upserted,
                conflict=("sync_name", "key"),
                update=("fingerprint", "dest_id", "synced_at", "run_id"),
            )
            if removed:
                self.wh.execute(
                    f"DELETE FROM {T_STATE} WHERE sync_name = ? AND key IN {_in(removed)}",
                    [sync_name, *removed],
                )
            if (upserted or removed) and self._may_have_rejections(sync_name):
                keys = [rec.key for rec, res in pairs if res.outcome is acked]
                self.wh.execute(
                    f"DELETE FROM {T_REJECTIONS} WHERE sync_name = ? AND key IN {_in(keys)}",
                    [sync_name, *keys],
                )
            if rejected:
                self._rejections_known[sync_name] = True
            for rec, res in rejected:
                self.wh.execute(
                    f"UPDATE {T_REJECTIONS} SET attempts = attempts + 1, error = ?, action = ?, "
                    "last_seen_at = ?, last_run_id = ? WHERE sync_name = ? AND key = ?",
                    (res.error or "rejected", rec.action, ts, run_id, sync_name, rec.key),
                )
            self.wh.insert_rows(
                T_REJECTIONS,
                (
                    "sync_name",
                    "key",
                    "action",
                    "error",
                    "attempts",
                    "first_seen_at",
                    "last_seen_at",
                    "last_run_id",
                ),
                [
                    (sync_name, rec.key, rec.action, res.error or "rejected", 1, ts, ts, run_id)
                    for rec, res in rejected
                ],
                conflict=("sync_name", "key"),
            )
            if batch_id is not None:
                self.clear_inflight(sync_name, batch_id)
            self.add_counts(run_id, counts)

    # --- full replace ------------------------------------------------------------------
    def begin_replace(self, sync_name: str) -> None:
        """Discard what an earlier, unfinished replace of this sync had staged."""
        self.wh.execute(f"DELETE FROM {T_REPLACE} WHERE sync_name = ?", (sync_name,))

    def stage_replaced(
        self,
        sync_name: str,
        run_id: str,
        pairs: Sequence[tuple[Record, RowResult]],
        counts: dict[str, int],
    ) -> None:
        """One transaction per acknowledged replace batch: its accepted rows are staged (not
        yet state: the destination swaps members only when the session completes), its
        rejected rows recorded, the run counters updated."""
        staged = [
            (sync_name, rec.key, rec.fingerprint, res.dest_id or rec.dest_id, run_id)
            for rec, res in pairs
            if res.outcome is Outcome.ACKED
        ]
        rejected = [(rec, res) for rec, res in pairs if res.outcome is Outcome.REJECTED]
        with self.wh.transaction():
            self.wh.insert_rows(
                T_REPLACE, ("sync_name", "key", "fingerprint", "dest_id", "run_id"), staged
            )
            self.commit_batch(sync_name, run_id, rejected, counts)

    def commit_replace(self, sync_name: str, run_id: str, counts: dict[str, int]) -> None:
        """The session completed: the staged rows become the sync state, in one transaction.
        In-flight batches of an earlier incremental run are moot (the replace set every
        member) and are cleared."""
        with self.wh.transaction():
            self.wh.execute(f"DELETE FROM {T_STATE} WHERE sync_name = ?", (sync_name,))
            self.wh.execute(
                f"INSERT INTO {T_STATE} (sync_name, key, fingerprint, dest_id, synced_at, run_id) "
                f"SELECT sync_name, key, fingerprint, dest_id, ?, run_id FROM {T_REPLACE} "
                "WHERE sync_name = ? AND run_id = ?",
                (now(), sync_name, run_id),
            )
            self.begin_replace(sync_name)
            self.wh.execute(f"DELETE FROM {T_INFLIGHT} WHERE sync_name = ?", (sync_name,))
            self.add_counts(run_id, counts)

    def clear_inflight(self, sync_name: str, batch_id: str) -> None:
        self.wh.execute(
            f"DELETE FROM {T_INFLIGHT} WHERE sync_name = ? AND batch_id = ?", (sync_name, batch_id)
        )

    # --- rejections -------------------------------------------------------------------
    def prune_rejections(self, sync_name: str, run_id: str) -> None:
        """After a completed run: rejections not seen again were fixed or left the model."""
        self.wh.execute(
            f"DELETE FROM {T_REJECTIONS} WHERE sync_name = ? AND last_run_id <> ?",
            (sync_name, run_id),
        )

    def rejections(self, sync_name: str | None = None, limit: int = 50) -> list[Rejection]:
        where, params = ("WHERE sync_name = ?", [sync_name]) if sync_name else ("", [])
        rows = self.wh.query(
            f"SELECT sync_name, key, action, error, attempts, first_seen_at, last_seen_at "
            f"FROM {T_REJECTIONS} {where} ORDER BY sync_name, last_seen_at DESC, key LIMIT ?",
            [*params, limit],
        )
        return [Rejection(*r) for r in rows]

    def rejection_count(self, sync_name: str) -> int:
        return int(
            self.wh.query(f"SELECT count(*) FROM {T_REJECTIONS} WHERE sync_name = ?", (sync_name,))[
                0
            ][0]
        )


def payload_json(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True)
