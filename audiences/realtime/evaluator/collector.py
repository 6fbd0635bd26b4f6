"""Python's garbage collector, tuned for the evaluator's loop.

The evaluator holds tens of thousands of device states in memory (device_cache.py), each a
few dozen objects. Python's automatic collector scans all of them every time it decides on a
full collection, which under a steady stream happened every few seconds and stopped the loop
for up to half a second: the slowest batches, and so the p99 of event -> segment
(docs/realtime.md, "Event -> segment"). Even collecting only the young generations after
each batch cost 20 µs an event. The states hold no reference cycles (reference counting
frees them), so while the loop runs the automatic collector is off and what a batch
allocated is set aside after the batch (``gc.freeze``, which scans nothing); a full
collection runs at most every ``full_every_s`` seconds, when the stream is idle, or after
twice that time in any case, and reclaims whatever cycles came up meanwhile."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from types import TracebackType


class BatchCollector:
    def __init__(self, full_every_s: float = 600.0, clock: Callable[[], float] = time.monotonic):
        self.full_every_s = full_every_s
        self.clock = clock
        self._was_enabled = False
        self._last_full = clock()

    def __enter__(self) -> BatchCollector:
        self._was_enabled = gc.isenabled()
        gc.disable()
        self._last_full = self.clock()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        gc.unfreeze()
        if self._was_enabled:
            gc.enable()

    def after_batch(self, idle: bool) -> None:
        """Sets what the batch allocated aside (``gc.freeze``: constant time, nothing
        scanned); everything is collected when the stream is idle and a full collection is
        due, or when one is overdue twice over."""
        since = self.clock() - self._last_full
        if since >= self.full_every_s and (idle or since >= 2 * self.full_every_s):
            gc.unfreeze()
            gc.collect()
            self._last_full = self.clock()
        else:
            gc.freeze()
