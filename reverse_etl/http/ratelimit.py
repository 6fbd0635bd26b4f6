"""Client-side rate limiter: at most N requests in any rolling window of W seconds.

A sliding log of send times reproduces exactly the rolling-window policies the APIs publish
(HubSpot: 100-250 requests per 10 s), so a sync can run at the ceiling without 429s. A small
margin (1 % of the window) absorbs the difference between when the client sends and when
the server counts.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """Blocks until one more request may leave; returns the seconds waited."""

    def acquire(self) -> float: ...


class RollingWindowLimiter:
    def __init__(
        self,
        requests: int,
        window_seconds: float,
        margin: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if requests <= 0 or window_seconds <= 0:
            raise ValueError("requests and window_seconds must be positive")
        self.requests = requests
        self.window = window_seconds
        self.margin = window_seconds * 0.01 if margin is None else margin
        self._sent: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.waited = 0.0

    def acquire(self) -> float:
        """Block until one more request fits in the window; return the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                horizon = now - (self.window + self.margin)
                while self._sent and self._sent[0] <= horizon:
                    self._sent.popleft()
                if len(self._sent) < self.requests:
                    self._sent.append(now)
                    self.waited += waited
                    return waited
                delay = self._sent[0] - horizon
                self._sleep(delay)
                waited += delay


class NoLimiter:
    waited = 0.0

    def acquire(self) -> float:
        return 0.0


def limiter_for(requests_per_window: int | None, window_seconds: float) -> Limiter:
    """A rolling-window limiter, or none when the rate is off (``None``)."""
    if requests_per_window:
        return RollingWindowLimiter(requests_per_window, window_seconds)
    return NoLimiter()
