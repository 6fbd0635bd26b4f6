"""An incremental run rebuilds exactly the devices with deliveries the tables do not yet
reflect: none when nothing changed, the device of a late delivery inside the look-back, the
device of an earlier delivery of a kept event; a later copy of a kept event rebuilds nothing.
The result equals a full refresh."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from dbt_support import LOCAL_TIME_SEEDS, create_raw_tables

AS_OF = "{as_of: '2026-11-24T00:00:00'}"
SELECT = ("--select", "+fct_sessions", "+fct_page_views")
DEVICE_TABLES = (
    "analytics_intermediate.int_tracker__sessionized_events",
    "analytics_intermediate.int_tracker__page_views",
    "analytics_intermediate.int_tracker__sessions",
)


def _insert(db: Path, rows: list[tuple[str, str, str, str, str]]) -> None:
    """Deliveries (event_id, anonymous_id, page_type, occurred_at, loaded_at) of page views."""
    con = duckdb.connect(str(db))
    con.executemany(
        """insert into raw.events (event_id, anonymous_id, event_type, page_type, occurred_at,
               loaded_at)
           values (?, ?, 'page_view', ?, ?, ?)""",
        rows,
    )
    con.close()


def _built_at(db: Path) -> dict[str, dict[str, str]]:
    """Per table, each device's latest built_at."""
    con = duckdb.connect(str(db), read_only=True)
    built = {
        table: dict(
            con.execute(
                f"select anonymous_id, cast(max(built_at) as varchar) from {table} group by 1"
            ).fetchall()
        )
        for table in DEVICE_TABLES
    }
    con.close()
    return built


def _rebuilt(before: dict[str, dict[str, str]], after: dict[str, dict[str, str]]) -> set:
    return {
        (table.rsplit("__", 1)[1], device)
        for table in DEVICE_TABLES
        for device, built_at in after[table].items()
        if before[table].get(device) != built_at
    }


def _rows_without_built_at(db: Path, table: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(f"select * exclude (built_at) from {table} order by all").fetchall()
    con.close()
    return rows


def test_runs_rebuild_only_devices_with_unreflected_deliveries(tmp_path, run_dbt):
    db = tmp_path / "incremental.duckdb"
    create_raw_tables(db)
    _insert(
        db,
        [
            ("a1", "a", "product", "2026-11-20 10:00:00", "2026-11-20 10:01:00"),
            ("a2", "a", "product", "2026-11-20 10:05:00", "2026-11-20 10:06:00"),
            ("b1", "b", "product", "2026-11-20 11:00:00", "2026-11-20 11:01:00"),
            ("c1", "c", "product", "2026-11-20 11:10:00", "2026-11-20 11:20:00"),
            ("c2", "c", "product", "2026-11-20 11:15:00", "2026-11-20 12:00:00"),
        ],
    )
    run_dbt("seed", "--vars", AS_OF, "--select", *LOCAL_TIME_SEEDS, db=db)
    run_dbt("run", "--vars", AS_OF, *SELECT, db=db)
    first = _built_at(db)
    assert set(first["analytics_intermediate.int_tracker__sessions"]) == {"a", "b", "c"}

    # nothing new: every delivery of the look-back window (all of them here) is reflected
    run_dbt("run", "--vars", AS_OF, *SELECT, db=db)
    unchanged = _built_at(db)
    assert _rebuilt(first, unchanged) == set()

    # the watermark is 12:00; inside the 3-hour look-back arrive: a late delivery of a new
    # event on b (loader lag), a later copy of a1 (ignored: the earlier delivery is kept), and
    # an earlier delivery of c1 with another page type (it becomes the kept one)
    _insert(
        db,
        [
            ("b2", "b", "product", "2026-11-20 11:05:00", "2026-11-20 11:30:00"),
            ("a1", "a", "cart", "2026-11-20 10:00:00", "2026-11-20 11:40:00"),
            ("c1", "c", "cart", "2026-11-20 11:10:00", "2026-11-20 11:19:00"),
        ],
    )
    run_dbt("run", "--vars", AS_OF, *SELECT, db=db)
    after_late = _built_at(db)
    assert _rebuilt(unchanged, after_late) == {
        (kind, device)
        for kind in ("sessionized_events", "page_views", "sessions")
        for device in ("b", "c")
    }
    con = duckdb.connect(str(db), read_only=True)
    kept = con.execute(
        """select event_id, page_type, cast(loaded_at as varchar)
           from analytics_intermediate.int_tracker__sessionized_events
           where event_id in ('a1', 'b2', 'c1') order by 1"""
    ).fetchall()
    con.close()
    assert kept == [
        ("a1", "product", "2026-11-20 10:01:00"),
        ("b2", "product", "2026-11-20 11:30:00"),
        ("c1", "cart", "2026-11-20 11:19:00"),
    ]

    full = tmp_path / "full.duckdb"
    shutil.copy(db, full)
    run_dbt("run", "--vars", AS_OF, *SELECT, "--full-refresh", db=full)
    for table in DEVICE_TABLES:
        assert _rows_without_built_at(db, table) == _rows_without_built_at(full, table), table
