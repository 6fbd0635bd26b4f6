"""UTC offsets of IANA time zones over a time window, daylight saving time included.

The generator draws session starts on a local-time daily curve; converting them to UTC
needs each zone's offset at that instant. `ZoneOffsets` finds every offset change of the
catalogue's zones inside a window once (from the pinned IANA release of the seed
time_zone_offsets) and then answers vectorised look-ups with a binary search.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

import numpy as np

from audiences.time_zone_offsets import zone_rows

DAY_MS = 86_400_000


def _changes(name: str, t0: int, t1: int) -> tuple[list[int], list[int]]:
    """Instants (ms) where the zone's offset changes in [t0, t1], and the offsets from there,
    from the same pinned IANA release as the seed time_zone_offsets that dbt reads
    (audiences/time_zone_offsets.py), so the generator and every engine agree. The first
    entry is t0 with the offset in force then."""
    first = datetime.fromtimestamp(t0 / 1000, tz=UTC).year
    last = datetime.fromtimestamp(t1 / 1000, tz=UTC).year
    starts: list[int] = []
    offsets: list[int] = []
    for row in zone_rows(name, first, last):
        begin = int(row.valid_from.replace(tzinfo=UTC).timestamp() * 1000)
        end = int(row.valid_to.replace(tzinfo=UTC).timestamp() * 1000)
        offset = row.utc_offset_seconds * 1000
        if end <= t0 or begin > t1 or (offsets and offsets[-1] == offset):
            continue  # outside the window, or the same offset across a year boundary
        starts.append(max(begin, t0))
        offsets.append(offset)
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
            starts, offsets = _changes(name, lo, hi)
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
