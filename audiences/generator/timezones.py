"""UTC offsets of IANA time zones over a time window, daylight saving time included.

The generator draws session starts on a local-time daily curve; converting them to UTC
needs each zone's offset at that instant. `ZoneOffsets` finds every offset change of the
catalogue's zones inside a window once (zoneinfo, to the millisecond) and then answers
vectorised look-ups with a binary search.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

import numpy as np

DAY_MS = 86_400_000


def _offset_ms(zone: ZoneInfo, t_ms: int) -> int:
    moment = datetime.fromtimestamp(t_ms / 1000, tz=UTC).astimezone(zone)
    delta = moment.utcoffset()
    assert delta is not None
    return int(delta.total_seconds() * 1000)


def _changes(zone: ZoneInfo, t0: int, t1: int) -> tuple[list[int], list[int]]:
    """Instants (ms) where the zone's offset changes in [t0, t1], and the offsets from there.

    The first entry is t0 with the offset in force then. Offsets are sampled daily and each
    change is located to the millisecond by bisection.
    """
    starts, offsets = [t0], [_offset_ms(zone, t0)]
    day = t0
    while day < t1:
        nxt = min(day + DAY_MS, t1)
        after = _offset_ms(zone, nxt)
        if after != offsets[-1]:
            lo, hi = day, nxt  # offset(lo) == offsets[-1], offset(hi) == after
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_ms(zone, mid) == offsets[-1]:
                    lo = mid
                else:
                    hi = mid
            starts.append(hi)
            offsets.append(after)
        day = nxt
    return starts, offsets


@lru_cache(maxsize=4)
def zone_offsets(zones: tuple[str, ...], t0: int, t1: int) -> ZoneOffsets:
    """Cached ZoneOffsets (batches of one generator run share their window)."""
    return ZoneOffsets(zones, t0, t1)


class ZoneOffsets:
    """UTC offsets (ms) of `zones` between t0 and t1 (ms since the epoch, UTC)."""

    def __init__(self, zones: tuple[str, ...], t0: int, t1: int) -> None:
        self.zones = zones
        self._starts: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []
        lo, hi = t0 - 2 * DAY_MS, t1 + 2 * DAY_MS
        for name in zones:
            starts, offsets = _changes(ZoneInfo(name), lo, hi)
            self._starts.append(np.array(starts, dtype=np.int64))
            self._offsets.append(np.array(offsets, dtype=np.int64))

    def at(self, zone: np.ndarray, t_utc: np.ndarray) -> np.ndarray:
        """Offset (ms, local minus UTC) of zone index `zone[i]` at UTC instant `t_utc[i]`;
        0 where the zone index is -1 (unknown zone)."""
        out = np.zeros(len(zone), dtype=np.int64)
        for z in np.unique(zone[zone >= 0]):
            rows = np.flatnonzero(zone == z)
            k = np.searchsorted(self._starts[z], t_utc[rows], side="right") - 1
            out[rows] = self._offsets[z][np.maximum(k, 0)]
        return out

    def local_to_utc(self, zone: np.ndarray, t_local: np.ndarray) -> np.ndarray:
        """UTC instants of local wall-clock times (ms). Exact except for wall times inside the
        hour a daylight saving change skips or repeats, which land within that hour."""
        guess = t_local - self.at(zone, t_local)
        return t_local - self.at(zone, guess)
