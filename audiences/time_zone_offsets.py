"""The seed ``time_zone_offsets``: UTC offsets of every zone the project uses, from a pinned
IANA release (the ``tzdata`` package), so that every engine computes the same local times
(docs/decisions/0017-time-zone-offsets-in-a-seed.md).

One row per zone, UTC calendar year and stretch of constant offset inside that year:
``time_zone, utc_year, valid_from, valid_to, utc_offset_seconds`` (UTC, naive, valid_to
exclusive). The year is a join key that keeps the join narrow (a session's zone and year
match at most a few rows). Zones: those of ``seeds/geo_time_zones.csv`` and ``UTC``.

Regenerate after bumping ``tzdata`` in pyproject.toml:

    python -m audiences.time_zone_offsets            # rewrites seeds/time_zone_offsets.csv
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo

FIRST_YEAR = 2000
LAST_YEAR = 2040
PROJECT_DIR = Path(__file__).resolve().parents[1]
GEO_SEED = PROJECT_DIR / "seeds" / "geo_time_zones.csv"
OFFSET_SEED = PROJECT_DIR / "seeds" / "time_zone_offsets.csv"
COLUMNS = ("time_zone", "utc_year", "valid_from", "valid_to", "utc_offset_seconds")


@dataclass(frozen=True)
class OffsetRow:
    time_zone: str
    utc_year: int
    valid_from: datetime
    valid_to: datetime
    utc_offset_seconds: int

    def csv_row(self) -> tuple[str, ...]:
        return (
            self.time_zone,
            str(self.utc_year),
            self.valid_from.strftime("%Y-%m-%d %H:%M:%S"),
            self.valid_to.strftime("%Y-%m-%d %H:%M:%S"),
            str(self.utc_offset_seconds),
        )


def tzdata_version() -> str:
    """The IANA release of the installed ``tzdata`` package, e.g. ``2026f``."""
    text = resources.files("tzdata").joinpath("zoneinfo", "tzdata.zi").read_text()
    return text.splitlines()[0].removeprefix("# version ").strip()


def pinned_zone(name: str) -> ZoneInfo:
    """The zone from the ``tzdata`` package, never from the operating system's files."""
    data = resources.files("tzdata").joinpath("zoneinfo", *name.split("/")).read_bytes()
    return ZoneInfo.from_file(io.BytesIO(data), key=name)


def _offset(zone: ZoneInfo, at: datetime) -> int:
    offset = at.replace(tzinfo=UTC).astimezone(zone).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _change_after(zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first second in (lo, hi] whose offset differs from lo's (bisection)."""
    before = _offset(zone, lo)
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        mid = mid.replace(microsecond=0)
        if _offset(zone, mid) == before:
            lo = mid
        else:
            hi = mid
    return hi


def zone_rows(
    name: str, first_year: int = FIRST_YEAR, last_year: int = LAST_YEAR
) -> Iterator[OffsetRow]:
    """The stretches of constant offset of ``name``, split at UTC year boundaries. Offsets
    change at most a few times a year, never twice within a day, so a daily scan finds
    every change and a bisection dates it to the second."""
    zone = pinned_zone(name)
    for year in range(first_year, last_year + 1):
        start, end = datetime(year, 1, 1), datetime(year + 1, 1, 1)
        valid_from, current, day = start, _offset(zone, start), start
        while day < end:
            probe = min(day + timedelta(days=1), end - timedelta(seconds=1))
            if _offset(zone, probe) == current:
                day = probe + timedelta(seconds=1) if probe == end - timedelta(seconds=1) else probe
                continue
            change = _change_after(zone, day, probe)
            yield OffsetRow(name, year, valid_from, change, current)
            valid_from, current, day = change, _offset(zone, change), change
        yield OffsetRow(name, year, valid_from, end, current)


def project_zones(geo_seed: Path = GEO_SEED) -> list[str]:
    with geo_seed.open(newline="", encoding="utf-8") as f:
        zones = {row["time_zone"] for row in csv.DictReader(f)}
    return sorted(zones | {"UTC"})


def offset_rows(zones: Iterable[str]) -> list[OffsetRow]:
    return [row for name in zones for row in zone_rows(name)]


def render(rows: Iterable[OffsetRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(row.csv_row() for row in rows)
    return out.getvalue()


def main() -> None:
    text = render(offset_rows(project_zones()))
    OFFSET_SEED.write_text(text, encoding="utf-8")
    print(f"{OFFSET_SEED}: {text.count(chr(10)) - 1} rows from IANA tzdata {tzdata_version()}")


if __name__ == "__main__":
    main()
