"""What the evaluator did lately, logged every ``every_s`` seconds: batches, entries,
persons re-evaluated (and how many were due by time), the slowest batch, and where the
batches' time went (apply the events, load the persons' devices, evaluate, commit). An
operator reads it to tell a backlog from a slow phase (docs/realtime.md, "Operating it")."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("audiences.realtime.evaluator")


class _Result(Protocol):
    entries: int
    persons: int
    due: int
    phase_s: dict[str, float]


@dataclass
class BatchStats:
    every_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    batches: int = 0
    entries: int = 0
    persons: int = 0
    due: int = 0
    slowest_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    _since: float | None = None

    def add(self, result: _Result) -> None:
        """Counts one batch; logs and starts over once ``every_s`` passed since the first."""
        now = self.clock()
        if self._since is None:
            self._since = now
        if not result.entries and not result.persons:
            self._maybe_log(now)
            return
        self.batches += 1
        self.entries += result.entries
        self.persons += result.persons
        self.due += result.due
        self.slowest_s = max(self.slowest_s, sum(result.phase_s.values()))
        for phase, seconds in result.phase_s.items():
            self.phases[phase] = self.phases.get(phase, 0.0) + seconds
        self._maybe_log(now)

    def line(self) -> str:
        busy = sum(self.phases.values())
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
        return (
            f"{self.batches} batches, {self.entries} entries, {self.persons} persons "
            f"({self.due} due); busy {busy:.2f} s ({parts}); slowest batch "
            f"{self.slowest_s * 1000:.0f} ms"
        )

    def _maybe_log(self, now: float) -> None:
        assert self._since is not None
        if now - self._since < self.every_s:
            return
        if self.batches:
            log.info("last %.0f s: %s", now - self._since, self.line())
        self.batches = self.entries = self.persons = self.due = 0
        self.slowest_s = 0.0
        self.phases = {}
        self._since = now
