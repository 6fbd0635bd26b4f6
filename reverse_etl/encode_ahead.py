"""Encode batches ahead of the requests, in worker processes.

Normalising and hashing identifiers (phone numbers through ``phonenumbers``, SHA-256 of a
dozen fields per member) is pure Python work that holds the interpreter lock: done inline it
is most of what an ad-audience sync costs, and the machine's other cores sit idle while the
engine waits for the platform. A destination with the :class:`Encoding` capability splits
its sending into ``encode`` (pure) and ``send_encoded`` (the requests); this module runs
``encode`` for the next batches in a process pool while the engine sends, commits and
reads the current one.

Nothing about the engine's guarantees changes: batches are still written ahead, sent and
committed one at a time, in order, by the engine's own thread; only the encoding of the
batches after the current one happens early, elsewhere. A worker that dies surfaces as an
error of the run (the in-flight batch, written ahead, is reconciled by the next run).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import pickle
import signal
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from reverse_etl.core.errors import DestinationError
from reverse_etl.core.records import Record
from reverse_etl.destinations.capabilities import AnyDestination, Encoding

Batch = tuple[str, list[Record]]
EncodedBatch = tuple[str, list[Record], list[Any] | None]

_worker_destination: Any = None
_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent_pid: int) -> None:
    """A worker must not outlive the sync (a kill -9 of the sync would leave it waiting on
    its queue forever, holding the sync's output pipes): on Linux the kernel kills it when
    its parent dies; elsewhere a thread checks every second."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)


def _start_worker(pickled_destination: bytes, parent_pid: int) -> None:
    global _worker_destination
    _die_with(parent_pid)
    _worker_destination = pickle.loads(pickled_destination)


def _encode(rows: list[dict[str, str]]) -> list[Any]:
    return list(_worker_destination.encode(rows))


def workers_for(dest: AnyDestination, rows: int, min_rows: int, workers: int) -> int:
    """How many encoding processes a run of ``rows`` rows gets: none for a destination
    without the capability, a small run (starting processes costs more than it saves), or
    ``workers`` = 0."""
    if not isinstance(dest, Encoding) or rows < min_rows or workers <= 0:
        return 0
    return workers


class EncodeAhead:
    """Yields the batches of ``batches`` with their upserts already encoded, keeping up to
    ``depth`` batches being encoded ahead of the one yielded."""

    def __init__(self, dest: AnyDestination, workers: int, depth: int | None = None):
        self.dest = dest
        self.workers = workers
        # one batch per worker: each batch held ahead is ~30 MB of records and hashed rows
        # (10,000 members), and the workers are what the sync waits for on two cores
        self.depth = depth or workers
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> EncodeAhead:
        if self.workers > 0:
            # fork: the workers start at once with the destination already built, and never
            # re-import the caller's main module (spawn would re-run a script without a
            # ``__main__`` guard). They only run the destination's pure ``encode``: they never
            # touch the warehouse connections or threads inherited from this process.
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("fork"),
                initializer=_start_worker,
                initargs=(pickle.dumps(self.dest), os.getpid()),
            )
            # Fork them now (a fork-context pool forks every worker at its first task), while
            # the sync is small: a worker keeps every page the sync had at the fork for its
            # whole life, even those the sync frees or rewrites later (its copy of them then
            # counts as the worker's own memory).
            self._pool.submit(os.getpid).result()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def batches(self, batches: Iterator[Batch]) -> Iterator[EncodedBatch]:
        if self._pool is None:
            for kind, records in batches:
                yield kind, records, None
            return
        ahead: deque[tuple[str, list[Record], Future[list[Any]] | None]] = deque()
        for kind, records in batches:
            fut = (
                self._pool.submit(_encode, [r.fields for r in records])
                if kind == "upsert"
                else None
            )
            ahead.append((kind, records, fut))
            if len(ahead) > self.depth:
                yield self._result(*ahead.popleft())
        while ahead:
            yield self._result(*ahead.popleft())

    @staticmethod
    def _result(kind: str, records: list[Record], fut: Future[list[Any]] | None) -> EncodedBatch:
        if fut is None:
            return kind, records, None
        try:
            encoded = fut.result()
        except Exception as exc:  # a worker that died or raised
            raise DestinationError(
                f"encoding a batch of {len(records)} rows in a worker process failed "
                f"({type(exc).__name__}: {exc}); the run stops, the next run resumes"
            ) from exc
        if len(encoded) != len(records):
            raise DestinationError("a worker process returned a batch of the wrong size")
        return kind, records, encoded


def default_workers() -> int:
    """One encoding process per core (the engine's own thread mostly waits on I/O)."""
    return os.cpu_count() or 1
