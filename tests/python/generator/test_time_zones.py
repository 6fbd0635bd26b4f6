"""Geography and local time of the generated data against seeds/geo_time_zones.csv."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import pytest

from audiences.generator import GenerationConfig, generate
from audiences.generator.catalog import HOUR_WEIGHTS, PLACES
from audiences.generator.timezones import ZoneOffsets
from audiences.time_zone_offsets import pinned_zone

SEED_FILE = Path(__file__).resolve().parents[3] / "seeds" / "geo_time_zones.csv"
AS_OF = datetime(2026, 11, 24)


def _seed_rows() -> list[dict[str, str]]:
    with SEED_FILE.open(newline="") as f:
        return list(csv.DictReader(f))


def _zone_map() -> dict[tuple[str, str], str]:
    return {(r["country"], r["region"]): r["time_zone"] for r in _seed_rows()}


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    path = tmp_path_factory.mktemp("tz") / "tz.duckdb"
    generate(GenerationConfig(db_path=path, events=40_000, seed=7, as_of=AS_OF))
    c = duckdb.connect(str(path), read_only=True)
    yield c
    c.close()


def test_seed_shape_and_zones_are_valid():
    rows = _seed_rows()
    assert list(rows[0]) == ["country", "region", "time_zone"]
    keys = [(r["country"], r["region"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate (country, region) in the seed"
    countries = {r["country"] for r in rows}
    defaults = [r["country"] for r in rows if r["region"] == ""]
    assert sorted(defaults) == sorted(countries), "every country needs one default row"
    for r in rows:
        assert len(r["country"]) == 2 and r["country"].isupper(), r
        ZoneInfo(r["time_zone"])  # raises on a name the tz database does not know


def test_catalogue_places_use_the_seed_zone():
    zones = _zone_map()
    for country, region, city, zone, _ in PLACES:
        assert zones.get((country, region)) == zone, (country, region, city)


def test_every_generated_place_maps_to_a_zone(con):
    zones = _zone_map()
    for table in ("events", "customers"):
        places = con.execute(
            f"SELECT DISTINCT country, region FROM raw.{table} WHERE country IS NOT NULL"
        ).fetchall()
        assert places, table
        missing = [p for p in places if (p[0], p[1] or "") not in zones]
        assert missing == [], (table, missing)
    # a city always lies in the same region and country
    assert con.execute(
        "SELECT count(*) FROM (SELECT city FROM raw.events GROUP BY city "
        "HAVING count(DISTINCT (country, region)) > 1)"
    ).fetchone() == (0,)


def _evening_shares(con) -> tuple[float, float, int]:
    """Share of session starts at 18:00-24:00 local and UTC, for devices at |offset| >= 5 h.

    A session start is a device's first event after more than 30 minutes without events
    (the rule used downstream), local hour computed with zoneinfo from the seed's zone.
    """
    zones = _zone_map()
    rows = con.execute(
        """
        SELECT country, region, occurred_at FROM (
            SELECT country, region, occurred_at,
                   occurred_at - lag(occurred_at) OVER (
                       PARTITION BY anonymous_id ORDER BY occurred_at) AS gap
            FROM raw.events)
        WHERE gap IS NULL OR gap > INTERVAL 30 MINUTE
        """
    ).fetchall()
    local = utc = n = 0
    for country, region, occurred_at in rows:
        zone = pinned_zone(zones[(country, region)])
        at = occurred_at.replace(tzinfo=UTC)
        offset_h = at.astimezone(zone).utcoffset().total_seconds() / 3600
        if abs(offset_h) < 5:
            continue
        n += 1
        local += at.astimezone(zone).hour >= 18
        utc += at.hour >= 18
    return local / n, utc / n, n


def test_sessions_follow_the_local_evening_not_utc(con):
    local, utc, n = _evening_shares(con)
    # The generator draws local start hours from HOUR_WEIGHTS: 18-24 h holds ~40 % of them
    # (a flat day would give 25 %). For people at 5+ hours from UTC (the Americas,
    # Australia) the same instants read in UTC fall mostly in their morning/afternoon:
    # ~30 % in the Americas, ~15 % in Australia. With ~4,000 session starts the standard
    # error of a share is < 1 point, so these bounds fail only if local time is ignored.
    expected = float(HOUR_WEIGHTS[18:].sum())
    assert n > 2_000
    assert abs(local - expected) < 0.04, (local, expected)
    assert local - utc > 0.07, (local, utc)


def test_zone_offsets_follow_daylight_saving_time():
    def ms(*args) -> int:
        return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)

    clock = ZoneOffsets(
        ("America/New_York", "Australia/Sydney", "America/Phoenix"), ms(2026, 9, 1), ms(2026, 12, 1)
    )
    zone = np.array([0, 0, 1, 1, 2, 2, -1])
    # New York leaves DST at 2026-11-01 06:00 UTC; Sydney starts DST at 2026-10-03 16:00 UTC;
    # Phoenix keeps -7 h all year; an unknown zone (-1) reads as UTC.
    t = np.array(
        [
            ms(2026, 11, 1, 5, 59),
            ms(2026, 11, 1, 6, 0),
            ms(2026, 10, 3, 15, 59),
            ms(2026, 10, 3, 16, 0),
            ms(2026, 9, 15),
            ms(2026, 11, 15),
            ms(2026, 10, 1),
        ]
    )
    hour = 3_600_000
    assert clock.at(zone, t).tolist() == [
        -4 * hour, -5 * hour, 10 * hour, 11 * hour, -7 * hour, -7 * hour, 0,
    ]  # fmt: skip
    # 19:30 local on 2026-11-10 in New York (EST) is 00:30 UTC the next day
    local = np.array([ms(2026, 11, 10, 19, 30)])
    assert clock.local_to_utc(np.array([0]), local).tolist() == [ms(2026, 11, 11, 0, 30)]


def test_zone_offsets_come_from_the_pinned_release_not_the_machine():
    # IANA 2026b and later keep British Columbia on -7 h after 2026-11-01; a machine with older
    # tz data says -8 h. The generator follows the seed time_zone_offsets, like dbt.
    def ms(*args) -> int:
        return int(datetime(*args, tzinfo=UTC).timestamp() * 1000)

    clock = ZoneOffsets(("America/Vancouver",), ms(2026, 10, 1), ms(2026, 12, 1))
    at = clock.at(np.array([0, 0]), np.array([ms(2026, 10, 15), ms(2026, 11, 15)]))
    assert at.tolist() == [-7 * 3_600_000, -7 * 3_600_000]
