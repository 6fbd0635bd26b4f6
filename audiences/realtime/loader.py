"""The warehouse loader: events of the stream land in ``raw.events`` exactly once.

The loader reads the event stream as the consumer group ``loader`` (through
:class:`audiences.realtime.stream.EventStream`), and every ``interval`` seconds, or as soon as
``batch_size`` entries are waiting, loads them as one micro-batch:

1. in ONE warehouse transaction: read the watermark (the last entry id loaded for this
   stream and group), insert the entries above it as rows of ``raw.events`` and move the
   watermark to the last of them; commit;
2. then acknowledge the entries on the stream.

A crash before the commit leaves the entries pending and nothing in the warehouse; a crash
after it leaves them pending too, but at or below the watermark: on restart the pending
entries are read first and those at or below the watermark are acknowledged without being
inserted again. Nothing is lost, nothing is doubled (tests/python/realtime/test_loader.py
kills the loader with SIGKILL at each point).

The stream delivers a group's entries in order, so the watermark is a correct summary of
what was loaded as long as one loader process serves a group and a warehouse: the sink's
``exclusive`` lock refuses a second one (a lock file beside the DuckDB file, a PostgreSQL
advisory lock), and dies with its process.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from audiences.realtime.keys import EVENT_STREAM_GROUPS, LOADER_GROUP
from audiences.realtime.stream import EventStream, StreamEntry, StreamTrimmer
from audiences.realtime.warehouse_sink import (
    COLUMN_NAMES,
    EntryId,
    Sink,
    WarehouseBusyError,
)

#: test hook: "<point>[:<n>]" kills the loader with SIGKILL the n-th time it reaches
#: ``point``: before_insert | after_insert (inside the transaction) | after_commit (before
#: the acknowledgement)
CRASH_ENV = "AUDIENCES_TEST_LOADER_CRASH_AT"
CRASH_POINTS = ("before_insert", "after_insert", "after_commit")

_INTEGER_COLUMNS = frozenset({"engaged_seconds"})
_TIME_COLUMNS = frozenset({"occurred_at"})


class LoaderError(Exception):
    """The loader cannot go on; the message says why and what to do. Entries not loaded
    stay pending on the stream and are loaded by the next start."""


class EventDataError(LoaderError):
    """An entry of the stream cannot become a row of raw.events."""


class CrashHook:
    """SIGKILL at a chosen point (the exactly-once tests)."""

    def __init__(self, spec: str | None):
        self.point: str | None = None
        self.at = 0
        self.seen = 0
        if spec:
            point, _, n = spec.partition(":")
            if point not in CRASH_POINTS:
                raise LoaderError(f"{CRASH_ENV}: unknown point {point!r} (one of {CRASH_POINTS})")
            self.point, self.at = point, int(n or 1)

    @classmethod
    def from_env(cls) -> CrashHook:
        return cls(os.environ.get(CRASH_ENV))

    def __call__(self, point: str) -> None:
        if point == self.point:
            self.seen += 1
            if self.seen == self.at:
                os.kill(os.getpid(), signal.SIGKILL)


def _parse_time(entry_id: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise EventDataError(
            f"stream entry {entry_id}: occurred_at must be an ISO 8601 text, got {value!r}"
        )
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        raise EventDataError(
            f"stream entry {entry_id}: occurred_at {value!r} is not an ISO 8601 time"
        ) from None
    if ts.tzinfo is not None:  # the contract is UTC without an offset
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


def to_row(entry: StreamEntry, loaded_at: datetime) -> tuple[Any, ...]:
    """One row of raw.events (values in :data:`COLUMN_NAMES` order) for a stream entry."""
    event = entry.event
    if entry.unreadable is not None or not isinstance(event, dict):
        raise EventDataError(f"stream entry {entry.entry_id}: the event is not a JSON object")
    values: list[Any] = []
    for name in COLUMN_NAMES:
        if name == "loaded_at":
            values.append(loaded_at)
            continue
        value = event.get(name)
        if name in ("event_id", "occurred_at") and value in (None, ""):
            raise EventDataError(f"stream entry {entry.entry_id}: {name} is missing")
        if value is None:
            values.append(None)
        elif name in _TIME_COLUMNS:
            values.append(_parse_time(entry.entry_id, value))
        elif name in _INTEGER_COLUMNS:
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or not -(2**31) <= value < 2**31
            ):
                raise EventDataError(
                    f"stream entry {entry.entry_id}: {name} must be a 32-bit integer, got {value!r}"
                )
            values.append(value)
        elif isinstance(value, str):
            values.append(value)
        else:
            raise EventDataError(
                f"stream entry {entry.entry_id}: {name} must be a text, got {value!r}"
            )
    return tuple(values)


@dataclass
class LoadStats:
    batches: int = 0
    inserted: int = 0
    #: entries found at or below the watermark (loaded before a crash): acknowledged only
    skipped: int = 0
    busy_retries: int = 0
    #: entries that are not events of the raw contract: kept in the dead letters
    #: (keys.dead_letters), acknowledged, never loaded
    dead_lettered: int = 0


class Loader:
    """Micro-batches from the stream into the warehouse, exactly once."""

    def __init__(
        self,
        stream: EventStream,
        sink: Sink,
        stream_name: str,
        *,
        group: str = LOADER_GROUP,
        consumer: str = "loader-1",
        batch_size: int = 5000,
        interval: float = 10.0,
        busy_retry_seconds: float = 2.0,
        busy_timeout: float | None = None,
        echo: Callable[[str], None] = lambda _msg: None,
        crash: CrashHook | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC).replace(tzinfo=None),
    ):
        if batch_size <= 0:
            raise LoaderError("the batch size must be at least 1")
        if interval <= 0:
            raise LoaderError("the interval must be more than 0 seconds")
        self.stream = stream
        self.sink = sink
        self.stream_name = stream_name
        self.group = group
        self.consumer = consumer
        self.batch_size = batch_size
        self.interval = interval
        self.busy_retry_seconds = busy_retry_seconds
        self.busy_timeout = busy_timeout
        self.echo = echo
        self.crash = crash or CrashHook.from_env()
        self.now = now
        self.stats = LoadStats()
        self.stopping = False
        # entries the evaluator has also acknowledged leave the stream (docs/realtime.md)
        self.trimmer = StreamTrimmer(stream, EVENT_STREAM_GROUPS)

    # --- one micro-batch -----------------------------------------------------------------
    def load(self, entries: Sequence[StreamEntry]) -> int:
        """Load ``entries`` (in stream order) exactly once, then acknowledge them; return
        how many rows were inserted. Raises WarehouseBusyError (nothing written, nothing
        acknowledged) when another process holds the warehouse."""
        if not entries:
            return 0
        loaded_at = self.now()
        # convert first; an entry that is not an event of the raw contract is kept in the
        # dead letters after the commit, before the acknowledgement (a crash in between keeps
        # it pending: it is kept again, idempotently), and the others are loaded
        rows: list[tuple[EntryId, tuple[Any, ...]]] = []
        unusable: list[tuple[StreamEntry, EventDataError]] = []
        for e in entries:
            try:
                rows.append((EntryId.parse(e.entry_id), to_row(e, loaded_at)))
            except EventDataError as exc:
                unusable.append((e, exc))
        inserted = 0
        with self.sink.transaction(self.stream_name, self.group) as tx:
            mark = tx.watermark()
            fresh = [(eid, row) for eid, row in rows if mark is None or mark < eid]
            self.crash("before_insert")
            if fresh:
                tx.insert([row for _eid, row in fresh])
                tx.set_watermark(fresh[-1][0], len(fresh))
                inserted = len(fresh)
            self.crash("after_insert")
        self.crash("after_commit")
        for e, exc in unusable:
            self.stream.dead_letter(self.group, e, str(exc))
            self.echo(f"{exc}: kept in the dead letters of group {self.group!r}, not loaded")
        self.stats.dead_lettered += len(unusable)
        self.stream.ack(self.group, [e.entry_id for e in entries])
        self.trimmer.maybe()
        self.stats.batches += 1
        self.stats.inserted += inserted
        self.stats.skipped += len(rows) - inserted
        return inserted

    def _load_retrying(self, entries: Sequence[StreamEntry]) -> None:
        """:meth:`load`, waiting while another process holds the warehouse."""
        started = time.monotonic()
        while True:
            dead_before = self.stats.dead_lettered
            try:
                inserted = self.load(entries)
            except WarehouseBusyError as exc:
                waited = time.monotonic() - started
                if self.busy_timeout is not None and waited >= self.busy_timeout:
                    raise LoaderError(
                        f"{exc}; gave up after {waited:.0f} s. The {len(entries)} entries stay "
                        "pending on the stream: run `audiences load-stream` again once the "
                        "other process is done"
                    ) from None
                self.stats.busy_retries += 1
                self.echo(
                    f"{exc}; retrying in {self.busy_retry_seconds:g} s "
                    f"({len(entries)} entries stay pending on the stream)"
                )
                time.sleep(self.busy_retry_seconds)
                continue
            skipped = len(entries) - inserted - (self.stats.dead_lettered - dead_before)
            note = f" ({skipped} already loaded before a restart)" if skipped else ""
            self.echo(
                f"loaded {inserted} events into {self.sink.name} up to entry "
                f"{entries[-1].entry_id}{note}"
            )
            return

    # --- the loop --------------------------------------------------------------------------
    def drain_pending(self) -> None:
        """Entries delivered to this consumer before a restart and never acknowledged."""
        while not self.stopping:
            entries = self.stream.read(self.group, self.consumer, self.batch_size, pending=True)
            if not entries:
                return
            self._load_retrying(entries)

    def run(self, *, once: bool = False) -> LoadStats:
        """Pending entries first, then new ones. ``once``: until the stream has nothing
        more for the group, then return. Otherwise until :attr:`stopping` is set."""
        with self.sink.exclusive(self.stream_name, self.group):
            self.stream.ensure_group(self.group)
            self.drain_pending()
            self._loop(once)
        return self.stats

    def _loop(self, once: bool) -> None:
        while not self.stopping:
            batch: list[StreamEntry] = []
            deadline = time.monotonic() + self.interval
            while len(batch) < self.batch_size and not self.stopping:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                got = self.stream.read(
                    self.group,
                    self.consumer,
                    self.batch_size - len(batch),
                    block_ms=0 if once else max(1, min(int(remaining * 1000), 1000)),
                )
                if not got and once:
                    break
                batch.extend(got)
            if batch:
                self._load_retrying(batch)
            elif once:
                break
