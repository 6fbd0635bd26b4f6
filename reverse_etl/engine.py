"""The sync engine: gate, diff, safety brake, crash recovery, batched sending with
per-batch state commits. Destination-agnostic: it talks to destinations only through
:mod:`reverse_etl.destinations.capabilities` (docs/architecture.md)."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reverse_etl import gate, manifest, match_rates, settings
from reverse_etl.config import Project
from reverse_etl.core.errors import (
    BatchRejectedError,
    GateError,
    ReverseEtlError,
    SafetyBrakeError,
    StateAccountError,
    WarehouseError,
)
from reverse_etl.core.heap import long_lived_frozen
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import (
    AnyDestination,
    CompletesRun,
    Destination,
    DirectDestination,
    Encoding,
    EventsAfterSync,
    Reconciling,
    Replacing,
    ReportsCounts,
    ReportsRequestIds,
    TriggerTarget,
    Validating,
)
from reverse_etl.destinations.registry import REGISTRY, build_destination
from reverse_etl.diff import Diff, DiffCounts
from reverse_etl.encode_ahead import EncodeAhead, default_workers, workers_for
from reverse_etl.event_outbox import EventOutbox
from reverse_etl.http.ratelimit import NoLimiter, limiter_for
from reverse_etl.http.transport import HttpTransport, RetryPolicy
from reverse_etl.manifest import Relation
from reverse_etl.settings import redact
from reverse_etl.state import StateStore
from reverse_etl.warehouse.base import Warehouse

log = logging.getLogger("reverse_etl")

# test hook: "<point>:<n>", point in wal|response|ack|commit (|swap for a full replace)
CRASH_ENV = "AUDIENCES_TEST_CRASH_AT"


@dataclass
class Plan:
    sync: SyncConfig
    relation: str
    counts: DiffCounts
    members: int
    samples: dict[str, list[Record]]
    gate_notes: list[str] = field(default_factory=list)
    match: match_rates.MatchRates | None = None  # before sending (docs/match-rates.md)
    warnings: list[str] = field(default_factory=list)  # size floor, health brake
    min_audience_size: int = 0


@dataclass
class SyncResult:
    sync_name: str
    status: str  # success | partial | failed | refused | dry_run | nothing
    run_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)
    planned: DiffCounts | None = None
    error: str | None = None
    seconds: float = 0.0
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (key, error) of this run
    plan: Plan | None = None  # what a dry run would send
    #: (key, identifiers) of members sent without the identifiers that were malformed
    dropped: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    #: named counts recorded with the run (reverse_etl.run_metrics)
    metrics: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # e.g. below the size floor

    def as_dict(self) -> dict[str, Any]:
        return {
            "sync": self.sync_name,
            "status": self.status,
            "run_id": self.run_id,
            "counts": self.counts,
            "planned": None if self.planned is None else self.planned.__dict__,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "rejections": [{"key": k, "error": e} for k, e in self.rejections],
            "dropped_identifiers": [{"key": k, "identifiers": list(d)} for k, d in self.dropped],
            "metrics": self.metrics,
            "warnings": self.warnings,
        }


def transport_for(
    dest: Destination | TriggerTarget, policy: RetryPolicy | None = None, *, limited: bool = True
) -> HttpTransport:
    """The one HTTP transport, configured by the destination or trigger target (base URL,
    credentials, response classifier, published rate)."""
    base, headers = dest.http_config()
    lim = dest.limits
    return HttpTransport(
        base,
        headers,
        dest.check_response,
        limiter_for(lim.requests_per_window, lim.window_seconds) if limited else NoLimiter(),
        policy or RetryPolicy.from_env(),
    )


class CrashHook:
    """Kill the process with SIGKILL at a chosen point (used by the crash-safety tests)."""

    def __init__(self, spec: str | None):
        self.point, self.at = None, -1
        if spec:
            point, _, n = spec.partition(":")
            self.point, self.at = point, int(n or 1)
        self.seen: dict[str, int] = {}

    def __call__(self, point: str) -> None:
        if self.point != point:
            return
        self.seen[point] = self.seen.get(point, 0) + 1
        if self.seen[point] == self.at:
            os.kill(os.getpid(), signal.SIGKILL)


class SyncEngine:
    def __init__(
        self,
        project: Project,
        warehouse: Warehouse,
        *,
        destination_factory: Callable[[SyncConfig], AnyDestination] = build_destination,
        retry_policy: RetryPolicy | None = None,
        on_progress: Callable[[str, int, int], None] | None = None,
        crash_spec: str | None = None,
        page_size: int | None = None,
    ):
        self.project = project
        self.wh = warehouse
        self.state = StateStore(warehouse)
        self.destination_factory = destination_factory
        self.retry_policy = retry_policy
        self.on_progress = on_progress
        env = settings.load()
        self.crash = CrashHook(crash_spec if crash_spec is not None else env.test_crash_at)
        self._manifest: dict[str, Any] | None = None
        # rows of the diff held in Python at once (one page of the work table)
        self.page_size = page_size or env.sync_page_rows
        self.encode_workers = (
            env.sync_encode_workers if env.sync_encode_workers is not None else default_workers()
        )
        self.encode_min_rows = env.sync_encode_min_rows

    # --- resolution and checks ---------------------------------------------------------
    def manifest(self) -> dict[str, Any]:
        if self._manifest is None:
            self._manifest = manifest.load_manifest(self.project.manifest_path)
        return self._manifest

    def _prepare(
        self,
        sync: SyncConfig,
        ignore_tests: bool,
        full_resync: bool,
        *,
        bind: bool = False,
        new_account: bool = False,
    ) -> tuple[AnyDestination, Diff, Relation, list[str]]:
        mf = self.manifest()
        relation = manifest.resolve_model(mf, sync.model, self.project.manifest_path)
        notes: list[str] = []
        if not ignore_tests:
            notes = gate.check(
                mf, self.project.run_results_path, relation.unique_id, sync.name
            ).notes
        dest = self.destination_factory(sync)
        self.state.ensure()
        self._check_account(sync, dest, bind=bind, new_account=new_account)
        diff = Diff(self.wh, sync, relation, dest.key_normalization, full_resync)
        diff.check_keys()
        return dest, diff, relation, notes

    def _check_account(
        self, sync: SyncConfig, dest: AnyDestination, *, bind: bool, new_account: bool
    ) -> None:
        """The state must describe the account the sync now points at (see
        :meth:`StateStore.bind_account`). A plan or dry run only checks; a run binds (and,
        with ``new_account``, forgets the state of the previous account first)."""
        account = dest.account_key()
        bound = self.state.bound_account(sync.name)
        if bound == account or (bound is None and not bind):
            return
        # raises StateAccountError, saying how to proceed, unless binding is allowed
        self.state.bind_account(sync.name, sync.destination, account, rebind=bind and new_account)

    def _brake(self, sync: SyncConfig, counts: DiffCounts, members: int) -> None:
        if sync.mode != "mirror" or counts.removed == 0:
            return
        allowed = members * sync.max_removal_pct / 100.0
        if counts.removed > allowed:
            pct = 100.0 * counts.removed / members if members else 100.0
            raise SafetyBrakeError(
                f"sync {sync.name!r} stopped by the safety brake before sending anything: it would "
                f"remove {counts.removed} of {members} members ({pct:.1f} %), "
                f"more than max_removal_pct "
                f"= {sync.max_removal_pct:g} %. If the model is right, raise max_removal_pct in "
                "syncs.yml for one run; otherwise fix the model (an empty or broken build?)."
            )

    def min_audience_size(self, sync: SyncConfig) -> int:
        """The sync's size floor: ``min_audience_size`` or its platform's minimum."""
        if sync.min_audience_size is not None:
            return sync.min_audience_size
        if sync.destination in REGISTRY.names():
            return REGISTRY.spec(sync.destination).min_audience_size
        return 0

    def _size_checks(self, sync: SyncConfig, counts: DiffCounts) -> list[str]:
        """The segment health brake and the size floor (docs/match-rates.md). Raises
        :class:`SafetyBrakeError` to refuse; returns the warnings to show otherwise."""
        size = counts.total_model
        before = self.state.last_metric(sync.name, "audience_size")
        limit = sync.max_size_change_pct
        if limit is not None and before:
            change = 100.0 * (size - before) / before
            if abs(change) > limit:
                raise SafetyBrakeError(
                    f"sync {sync.name!r} stopped by the segment health brake before sending "
                    f"anything: its audience changed from {before} to {size} members since "
                    f"the last run ({change:+.1f} %), more than max_size_change_pct = "
                    f"{limit:g} %. If the change is real (a new segment rule, a campaign "
                    f"ended), raise max_size_change_pct for {sync.name!r} in syncs.yml for "
                    "one run (or set it to null); otherwise check the model's last build."
                )
        floor = self.min_audience_size(sync)
        if size >= floor:
            return []
        message = (
            f"sync {sync.name!r}: the audience has {size} members, below the minimum useful "
            f"size of {floor} for {sync.destination} (min_audience_size)"
        )
        if sync.below_min_size == "refuse":
            raise SafetyBrakeError(
                f"{message}; nothing was sent (below_min_size: refuse). Widen the segment, or "
                "set below_min_size: warn to send it anyway."
            )
        return [f"{message}: the platform may not serve it yet"]

    def _record_refusal(self, sync: SyncConfig, message: str) -> None:
        try:
            self.state.ensure()
            run_id = self.state.start_run(sync.name, sync.destination, sync.mode)
            self.state.finish_run(run_id, "refused", message)
        except WarehouseError:
            log.warning("could not record the refused run of %s", sync.name)

    def plan(
        self,
        sync: SyncConfig,
        *,
        ignore_tests: bool = False,
        full_resync: bool = False,
        samples: int = 5,
        match: bool = True,
    ) -> Plan:
        _, diff, relation, notes = self._prepare(sync, ignore_tests, full_resync)
        counts = diff.counts()
        try:
            warnings = self._size_checks(sync, counts)
        except SafetyBrakeError as exc:  # a plan shows what the run would refuse
            warnings = [str(exc)]
        return Plan(
            sync,
            f"{relation.schema}.{relation.identifier}",
            counts,
            self.state.member_count(sync.name),
            diff.samples(samples),
            notes,
            match_rates.measure(
                sync.name, sync.destination, sync.mapping, diff.model_fields(self.page_size)
            )
            if match
            else None,
            warnings,
            self.min_audience_size(sync),
        )

    def transport_for(self, dest: Destination, *, limited: bool = True) -> HttpTransport:
        """The one HTTP transport, configured by the destination (base URL, credentials,
        response classifier, published rate)."""
        return transport_for(dest, self.retry_policy, limited=limited)

    def _after_batches(self, sync: SyncConfig, dest: AnyDestination, run_id: str) -> dict[str, int]:
        """Declared work after the batches: request ids to record, events to deliver."""
        out: dict[str, int] = {}
        if isinstance(dest, ReportsRequestIds):
            ids = dest.drain_request_ids()
            if ids:
                self.state.record_request_ids(sync.name, run_id, ids)
                out["request_ids"] = len(ids)
        if isinstance(dest, Destination) and isinstance(dest, EventsAfterSync):
            spec = dest.event_spec()
            if spec is not None:
                changes = manifest.resolve_model(
                    self.manifest(), spec.model, self.project.manifest_path
                )
                outbox = EventOutbox(self.wh, sync.name, spec, changes, self.crash)
                t = self.transport_for(dest)
                try:
                    out.update(outbox.run(dest, t))
                finally:
                    t.close()
        return out

    def _complete(self, dest: AnyDestination, diff: Diff) -> None:
        """Tell a destination that every row of the model is committed (CompletesRun)."""
        if isinstance(dest, CompletesRun):
            dest.complete(diff.maxima(dest.completion_columns()))

    def _validate(
        self, dest: AnyDestination, diff: Diff
    ) -> tuple[dict[str, int], list[tuple[str, str]]]:
        """Dry run of a destination with a server-side check (Data Manager ``validateOnly``):
        one batch of the planned upserts is validated, nothing is applied."""
        if not isinstance(dest, Destination) or not isinstance(dest, Validating):
            return {}, []
        sample = diff.samples(min(dest.limits.batch_size, 1000))
        recs = sample["add"] + sample["change"]
        if not recs:
            return {}, []
        t = self.transport_for(dest, limited=False)
        try:
            results = dest.validate(t, recs)
        finally:
            t.close()
        bad = [(r.key, r.error or "invalid") for r in results if r.outcome is Outcome.REJECTED]
        return {"validated": len(recs), "invalid": len(bad)}, bad

    # --- the run -----------------------------------------------------------------------
    def run(
        self,
        sync: SyncConfig,
        *,
        dry_run: bool = False,
        full_resync: bool = False,
        ignore_tests: bool = False,
        new_account: bool = False,
    ) -> SyncResult:
        """Run one sync. ``dry_run`` is the one dry-run path: the gate, the account check,
        the safety brake and the platform's own validation (if it has one) run; nothing
        else is sent and nothing is written."""
        t0 = time.monotonic()
        try:
            dest, diff, relation, notes = self._prepare(
                sync, ignore_tests, full_resync, bind=not dry_run, new_account=new_account
            )
            counts = diff.counts()
            members = self.state.member_count(sync.name)
            self._brake(sync, counts, members)
            warnings = self._size_checks(sync, counts)
        except (GateError, SafetyBrakeError, StateAccountError) as exc:
            if not dry_run:
                self._record_refusal(sync, str(exc))
            return SyncResult(sync.name, "refused", error=str(exc), seconds=time.monotonic() - t0)
        except ReverseEtlError as exc:
            return SyncResult(
                sync.name, "failed", error=redact(str(exc)), seconds=time.monotonic() - t0
            )
        if dry_run:
            try:
                checked, bad = self._validate(dest, diff)
            except ReverseEtlError as exc:
                checked, bad = {"invalid": -1}, [("*", redact(str(exc)))]
            plan = Plan(
                sync,
                f"{relation.schema}.{relation.identifier}",
                counts,
                members,
                diff.samples(5),
                notes,
            )
            return SyncResult(
                sync.name,
                "dry_run",
                counts=checked,
                planned=counts,
                seconds=time.monotonic() - t0,
                rejections=bad,
                plan=plan,
                warnings=warnings,
            )
        self.state.record_campaign(sync.name, sync.destination, sync.campaign_naming())
        inflight = self.state.inflight_count(sync.name)
        if counts.added + counts.changed + counts.removed == 0 and inflight == 0:
            # Nothing to send: no request at all, but the run is recorded.
            run_id = self.state.start_run(sync.name, sync.destination, sync.mode)
            try:
                extra = self._after_batches(sync, dest, run_id)
                self._complete(dest, diff)
            except ReverseEtlError as exc:
                self.state.finish_run(run_id, "failed", redact(str(exc)))
                return SyncResult(
                    sync.name,
                    "failed",
                    run_id,
                    error=redact(str(exc)),
                    seconds=time.monotonic() - t0,
                )
            metrics = {"audience_size": counts.total_model}
            self.state.record_metrics(run_id, sync.name, metrics)
            self.state.finish_run(run_id, "success", counts={"unchanged": counts.unchanged})
            self.state.prune_rejections(sync.name, run_id)
            return SyncResult(
                sync.name,
                "success",
                run_id,
                {"unchanged": counts.unchanged, **extra},
                counts,
                seconds=time.monotonic() - t0,
                metrics=metrics,
                warnings=warnings,
            )
        if not self.wh.lock(sync.name):
            return SyncResult(
                sync.name, "failed", error=f"sync {sync.name!r} is already running elsewhere"
            )
        # A destination that swaps whole audiences does so on --full-resync; an empty model is
        # never uploaded as a replace (that would send nothing): it goes through removals.
        replace = (
            full_resync
            and counts.added > 0
            and isinstance(dest, Destination)
            and isinstance(dest, Replacing)
            and dest.replaces_on_full_resync()
        )
        run_id = self.state.start_run(
            sync.name, sync.destination, "replace" if replace else sync.mode
        )
        runner = _Run(self, sync, dest, diff, run_id, counts)
        try:
            with long_lived_frozen():  # (reverse_etl/core/heap.py)
                if replace:
                    runner.execute_replace()
                else:
                    runner.execute(inflight)
            runner.totals.update(self._after_batches(sync, dest, run_id))
            if not runner.totals.get("rejected"):
                self._complete(dest, diff)
        except ReverseEtlError as exc:
            msg = redact(str(exc))
            metrics = runner.metrics()
            self.state.record_metrics(run_id, sync.name, metrics)
            self.state.finish_run(run_id, "failed", msg, runner.flush_counts())
            return SyncResult(
                sync.name,
                "failed",
                run_id,
                runner.totals,
                counts,
                msg,
                time.monotonic() - t0,
                runner.rejections,
                dropped=runner.dropped,
                metrics=metrics,
                warnings=warnings,
            )
        except Exception as exc:
            msg = redact(f"{type(exc).__name__}: {exc}")
            with contextlib.suppress(WarehouseError):
                self.state.finish_run(run_id, "failed", msg, runner.flush_counts())
            raise
        finally:
            runner.close()
        status = "partial" if runner.totals.get("rejected") else "success"
        metrics = runner.metrics()
        self.state.record_metrics(run_id, sync.name, metrics)
        self.state.finish_run(run_id, status, None, runner.flush_counts())
        self.state.prune_rejections(sync.name, run_id)
        return SyncResult(
            sync.name,
            status,
            run_id,
            runner.totals,
            counts,
            None,
            time.monotonic() - t0,
            runner.rejections,
            dropped=runner.dropped,
            metrics=metrics,
            warnings=warnings,
        )


_COUNTER = {"add": "added", "change": "changed", "remove": "removed"}  # of an acked row


@dataclass(frozen=True)
class _OnTheWire:
    """A batch written ahead whose requests are being sent."""

    records: list[Record]
    batch_id: str
    results: Future[list[RowResult]]


class _Run:
    """One execution of one sync (kept apart so the engine stays stateless)."""

    def __init__(
        self,
        engine: SyncEngine,
        sync: SyncConfig,
        dest: AnyDestination,
        diff: Diff,
        run_id: str,
        counts: DiffCounts,
    ):
        self.e = engine
        self.sync = sync
        self.dest = dest
        self.diff = diff
        self.run_id = run_id
        self.planned = counts
        self.totals: dict[str, int] = {
            "added": 0,
            "changed": 0,
            "removed": 0,
            "rejected": 0,
            "reconciled": 0,
            "unchanged": counts.unchanged,
            "requests": 0,
            "retries": 0,
        }
        self.rejections: list[tuple[str, str]] = []
        self.dropped: list[tuple[str, tuple[str, ...]]] = []
        self._reported = {"requests": 0, "retries": 0}
        self._unchanged_reported = False
        self.transport: HttpTransport | None = None
        self._connected = False  # a DirectDestination's own client
        self._batch_no = 0
        self.done = 0
        self.total = counts.added + counts.changed + counts.removed

    # --- plumbing ----------------------------------------------------------------------
    def _transport(self, dest: Destination) -> HttpTransport:
        if self.transport is None:
            self.transport = self.e.transport_for(dest)
            self.transport.on_response = lambda: self.e.crash("response")
            dest.prepare(self.transport)
        return self.transport

    def _direct(self, dest: DirectDestination) -> DirectDestination:
        if not self._connected:
            dest.connect()
            self._connected = True
        return dest

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        if self._connected and isinstance(self.dest, DirectDestination):
            self.dest.disconnect()

    def flush_counts(self) -> dict[str, int]:
        """Request / retry counters not yet written to the run row (+ unchanged, once)."""
        out: dict[str, int] = {}
        if self.transport is not None:
            self.totals["requests"] = self.transport.requests
            self.totals["retries"] = self.transport.retries
            for k in ("requests", "retries"):
                out[k] = self.totals[k] - self._reported[k]
                self._reported[k] = self.totals[k]
        if not self._unchanged_reported:
            out["unchanged"] = self.totals["unchanged"]
            self._unchanged_reported = True
        return out

    def metrics(self) -> dict[str, int]:
        """What the run records in ``run_metrics``: the audience size it was started for,
        identifiers dropped as malformed (``dropped_<identifier>``), and the counts the
        platform reported (``<destination>_<count>``)."""
        out = {"audience_size": self.planned.total_model}
        for _, names in self.dropped:
            for name in names:
                metric = f"dropped_{name.lower()}"
                out[metric] = out.get(metric, 0) + 1
        if isinstance(self.dest, ReportsCounts):
            for k, v in self.dest.drain_reported_counts().items():
                out[f"{self.sync.destination}_{k}"] = v
        return out

    def _progress(self, n: int) -> None:
        self.done += n
        if self.e.on_progress:
            self.e.on_progress(self.sync.name, self.done, max(self.total, self.done))

    # --- sending -----------------------------------------------------------------------
    def _send_once(
        self, kind: str, records: list[Record], encoded: list[Any] | None
    ) -> list[RowResult]:
        dest = self.dest
        if isinstance(dest, DirectDestination):
            direct = self._direct(dest)
            send = direct.send_upserts if kind == "upsert" else direct.send_removals
            results = send(records)
            self.e.crash("response")
            return results
        t = self._transport(dest)
        if encoded is not None and isinstance(dest, Encoding):
            return dest.send_encoded(t, records, encoded)
        fn = dest.send_upserts if kind == "upsert" else dest.send_removals
        return fn(t, records)

    def _send(
        self, kind: str, records: list[Record], encoded: list[Any] | None = None
    ) -> list[RowResult]:
        try:
            return self._send_once(kind, records, encoded)
        except BatchRejectedError as exc:
            if len(records) == 1:
                return [RowResult(records[0].key, Outcome.REJECTED, error=redact(str(exc)))]
            mid = len(records) // 2
            return self._send(kind, records[:mid]) + self._send(kind, records[mid:])

    def _tally(
        self, records: list[Record], results: list[RowResult]
    ) -> tuple[list[tuple[Record, RowResult]], dict[str, int]]:
        """Pair a batch with its results, add them to the run's totals and rejections, and
        return the pairs with the counters to commit alongside them."""
        counts = {"added": 0, "changed": 0, "removed": 0, "rejected": 0}
        pairs = list(zip(records, results, strict=True))
        for rec, res in pairs:
            if res.outcome is Outcome.ACKED:
                counts[_COUNTER[rec.action]] += 1
                if res.dropped:
                    self.dropped.append((rec.key, res.dropped))
            else:
                counts["rejected"] += 1
                self.rejections.append((rec.key, res.error or "rejected"))
        for k, v in counts.items():
            self.totals[k] += v
        counts.update(self.flush_counts())
        return pairs, counts

    def _start(
        self, wire: ThreadPoolExecutor, kind: str, records: list[Record], encoded: list[Any] | None
    ) -> _OnTheWire:
        """Write the batch ahead, then send it on the ``wire`` thread."""
        self._batch_no += 1
        batch_id = f"{self.run_id}:{self._batch_no}"
        self.e.state.write_inflight(self.sync.name, self.run_id, batch_id, records)
        self.e.crash("wal")
        return _OnTheWire(records, batch_id, wire.submit(self._send, kind, records, encoded))

    def _finish(self, sent: _OnTheWire) -> None:
        """Wait for the batch's results and commit them (a send that failed raises here)."""
        results = sent.results.result()
        self.e.crash("ack")
        pairs, counts = self._tally(sent.records, results)
        self.e.state.commit_batch(
            self.sync.name, self.run_id, pairs, counts, batch_id=sent.batch_id
        )
        self.e.crash("commit")
        self._progress(len(sent.records))

    def _reconcile(self) -> None:
        st = self.e.state
        dest = self.dest
        for batch_id, recs in st.inflight(self.sync.name):
            if isinstance(dest, Destination) and isinstance(dest, Reconciling):
                results = dest.reconcile(self._transport(dest), recs)
            else:  # no read-back: every in-flight row comes back through the diff
                results = [RowResult(r.key, Outcome.NOT_APPLIED) for r in recs]
            done = [
                (r, res)
                for r, res in zip(recs, results, strict=True)
                if res.outcome is Outcome.ACKED
            ]
            self.totals["reconciled"] += len(done)
            counts = {"reconciled": len(done), **self.flush_counts()}
            # Rows never applied leave the in-flight record and come back through the diff.
            st.commit_batch(self.sync.name, self.run_id, done, counts, batch_id=batch_id)

    def execute(self, inflight: int) -> None:
        size = self.dest.limits.batch_size
        upserts = self.planned.added + self.planned.changed
        workers = workers_for(self.dest, upserts, self.e.encode_min_rows, self.e.encode_workers)
        # One batch at a time on the wire, as before: its requests are sent on a thread of
        # their own while this thread reads (and has encoded) the next batch, so reading the
        # diff overlaps the platform's answer. A batch is written ahead only once the batch
        # before it is committed: the state, the write-ahead records and the crash points are
        # exactly those of a sequential run (docs/decisions/0018-sync-throughput.md).
        with EncodeAhead(self.dest, workers) as ahead, ThreadPoolExecutor(1, "wire") as wire:
            # (the encode workers are forked first, before the diff's work table fills the
            # warehouse's memory: see EncodeAhead)
            if inflight:
                self._reconcile()
            self.diff.materialize()
            pending = self.diff.stream_pending(size, self.e.page_size)
            sent: _OnTheWire | None = None
            # the diff was written after the reconcile: its adds are new keys, except in a full
            # resync, which sends every row as an add whether the state holds it or not
            state = self.e.state
            new_keys = (
                contextlib.nullcontext()
                if self.diff.full_resync
                else state.fresh_adds(self.sync.name)
            )
            with new_keys:
                for kind, batch, encoded in ahead.batches(pending):
                    if sent is not None:
                        self._finish(sent)
                    sent = self._start(wire, kind, batch, encoded)
                if sent is not None:
                    self._finish(sent)
        self.diff.drop_pending()

    def execute_replace(self) -> None:
        """``--full-resync`` of a destination that swaps whole audiences: every row of the
        model goes into one replace session. Acknowledged rows are staged per batch and
        become the state in one transaction once the last batch is acknowledged (when the
        destination swaps the members). A run stopped before that leaves the state as it was;
        the next replace starts a new session from the first batch."""
        dest = self.dest
        assert isinstance(dest, Destination) and isinstance(dest, Replacing)
        st = self.e.state
        st.begin_replace(self.sync.name)
        self.diff.materialize()
        self.total = self.planned.added
        sent: list[list[Record]] = []

        def upserts() -> Iterator[list[Record]]:
            # removals are not sent: the replace drops every member it is not given
            for kind, batch in self.diff.stream_pending(dest.limits.batch_size, self.e.page_size):
                if kind == "upsert":
                    sent.append(batch)
                    yield batch

        for results in dest.replace(self._transport(dest), upserts(), self.planned.added):
            batch = sent.pop(0)
            self.e.crash("ack")
            pairs, counts = self._tally(batch, results)
            st.stage_replaced(self.sync.name, self.run_id, pairs, counts)
            self.e.crash("commit")
            self._progress(len(batch))
        self.totals["removed"] += self.planned.removed
        self.totals.update({k: v for k, v in dest.replace_counts.items() if v})
        st.commit_replace(
            self.sync.name,
            self.run_id,
            {"removed": self.planned.removed, **self.flush_counts()},
        )
        self.e.crash("swap")
        self.diff.drop_pending()
