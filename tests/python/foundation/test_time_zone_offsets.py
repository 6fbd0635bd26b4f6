"""The seed time_zone_offsets (audiences/time_zone_offsets.py): generated from the pinned
IANA release, complete for every zone the project uses, and right on known transitions."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from itertools import pairwise

from audiences.time_zone_offsets import (
    FIRST_YEAR,
    LAST_YEAR,
    OFFSET_SEED,
    offset_rows,
    project_zones,
    render,
    tzdata_version,
    zone_rows,
)


def _seed() -> list[dict[str, str]]:
    with OFFSET_SEED.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_committed_seed_is_what_the_pinned_release_gives():
    # a failure here means tzdata was bumped without `python -m audiences.time_zone_offsets`
    assert OFFSET_SEED.read_text(encoding="utf-8") == render(offset_rows(project_zones())), (
        f"seeds/time_zone_offsets.csv is not from tzdata {tzdata_version()}: regenerate it"
    )


def test_every_zone_and_year_is_covered_without_gaps_or_overlaps():
    by_zone_year: dict[tuple[str, int], list[tuple[str, str]]] = defaultdict(list)
    for row in _seed():
        by_zone_year[(row["time_zone"], int(row["utc_year"]))].append(
            (row["valid_from"], row["valid_to"])
        )
    zones = project_zones()
    assert {z for z, _ in by_zone_year} == set(zones)
    for zone in zones:
        for year in range(FIRST_YEAR, LAST_YEAR + 1):
            stretches = sorted(by_zone_year[(zone, year)])
            assert stretches[0][0] == f"{year}-01-01 00:00:00", (zone, year)
            assert stretches[-1][1] == f"{year + 1}-01-01 00:00:00", (zone, year)
            for (_, end), (start, _) in pairwise(stretches):
                assert end == start, (zone, year, end, start)


def test_known_transitions_to_the_second():
    def rows(zone: str, year: int) -> list[tuple[datetime, datetime, int]]:
        return [
            (r.valid_from, r.valid_to, r.utc_offset_seconds) for r in zone_rows(zone, year, year)
        ]

    # New York: EDT from 2026-03-08 02:00 EST (07:00 UTC) to 2026-11-01 02:00 EDT (06:00 UTC)
    assert rows("America/New_York", 2026) == [
        (datetime(2026, 1, 1), datetime(2026, 3, 8, 7), -18000),
        (datetime(2026, 3, 8, 7), datetime(2026, 11, 1, 6), -14400),
        (datetime(2026, 11, 1, 6), datetime(2027, 1, 1), -18000),
    ]
    # British Columbia stays on daylight time after 2026-03-08 (IANA 2026b and later), which
    # the operating system's older tz data may not know: the seed does not depend on it
    assert rows("America/Vancouver", 2026) == [
        (datetime(2026, 1, 1), datetime(2026, 3, 8, 10), -28800),
        (datetime(2026, 3, 8, 10), datetime(2027, 1, 1), -25200),
    ]
    # a zone without daylight saving time, and half-hour offsets
    assert rows("America/Phoenix", 2026) == [(datetime(2026, 1, 1), datetime(2027, 1, 1), -25200)]
    assert rows("Australia/Darwin", 2026) == [(datetime(2026, 1, 1), datetime(2027, 1, 1), 34200)]


def test_the_pinned_release_is_recorded():
    assert tzdata_version() == "2026f"
