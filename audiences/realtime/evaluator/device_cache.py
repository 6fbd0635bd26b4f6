"""Device states kept in memory between batches.

A visitor sends several events within minutes, so the devices of one batch are mostly the
devices of the last ones. Reading their states back from Redis and parsing them was the
largest cost of a batch after the writes (docs/realtime.md, "Event -> segment"). The
evaluator keeps the states it committed in this cache, least recently used first out, and
reads from Redis only the devices it does not hold.

The cache is only right while this evaluator is the only writer of the states. It makes sure
of that with an owner token (:attr:`StateKeys.owner`): ``start`` writes a new token, every
commit first checks it inside the same script and refuses to write when another evaluator
took over (:class:`EvaluatorReplaced`). The cache is emptied whenever a batch fails before
its commit (its states were changed in memory only) and whenever Redis was unreachable (a
restarted Redis may have lost its last second of writes)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from audiences.realtime.evaluator.device import DeviceState

#: devices kept by default: a device with a few dozen events takes 50-100 kB in memory
DEFAULT_DEVICES = 20_000


class DeviceCache:
    def __init__(self, capacity: int = DEFAULT_DEVICES):
        if capacity < 0:
            raise ValueError("the device cache's capacity cannot be negative")
        self.capacity = capacity
        self._states: OrderedDict[str, DeviceState] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._states)

    def take(self, anons: Iterable[str]) -> tuple[dict[str, DeviceState], list[str]]:
        """The cached states of ``anons``, and the ids not cached (sorted)."""
        found: dict[str, DeviceState] = {}
        missing: list[str] = []
        states = self._states
        for anon in anons:
            state = states.get(anon)
            if state is None:
                missing.append(anon)
            else:
                states.move_to_end(anon)
                found[anon] = state
        self.hits += len(found)
        self.misses += len(missing)
        missing.sort()
        return found, missing

    def keep(self, states: Iterable[DeviceState]) -> None:
        """Remembers committed states (the oldest ones leave beyond the capacity)."""
        if not self.capacity:
            return
        cached = self._states
        for state in states:
            cached[state.anonymous_id] = state
            cached.move_to_end(state.anonymous_id)
        while len(cached) > self.capacity:
            cached.popitem(last=False)

    def forget(self, anons: Iterable[str]) -> None:
        for anon in anons:
            self._states.pop(anon, None)

    def clear(self) -> None:
        self._states.clear()


class EvaluatorReplaced(RuntimeError):
    """Another evaluator took over the state (a second `audiences stream` on the same Redis
    and prefix): this one stops instead of writing over it."""
