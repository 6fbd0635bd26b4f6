"""Incremental runs re-open sessions for late events and drop devices of erased people."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
from dbt_support import BUILD_SEEDS_AND_MODELS, LOCAL_TIME_SEEDS, create_raw_tables

AS_OF = "{as_of: '2026-11-24T00:00:00'}"
MODELS = ("+fct_sessions", "+fct_page_views")
SELECT = ("--select", *MODELS)


def _session_id(device: str, first_event: str) -> str:
    return hashlib.md5(f"derived|{device}|{first_event}".encode()).hexdigest()


def _insert_events(db: Path, rows: list[tuple[str, str, str | None, str, str]]) -> None:
    con = duckdb.connect(str(db))
    con.executemany(
        """insert into raw.events (event_id, anonymous_id, user_id, event_type, page_type,
               occurred_at, loaded_at)
           values (?, ?, ?, 'page_view', 'product', ?, ?)""",
        rows,
    )
    con.close()


def _sessions(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        """select anonymous_id, session_id, person_id, page_views
           from analytics_core.fct_sessions order by anonymous_id, started_at"""
    ).fetchall()
    con.close()
    return rows


def test_late_event_merges_sessions_and_late_erasure_removes_device(tmp_path, run_dbt):
    db = tmp_path / "late.duckdb"
    create_raw_tables(db)
    _insert_events(
        db,
        [
            ("x1", "a3", None, "2026-11-20 10:00:00", "2026-11-20 10:01:00"),
            ("x3", "a3", None, "2026-11-20 10:50:00", "2026-11-20 10:51:00"),
            ("y1", "b7", "u7", "2026-11-20 12:00:00", "2026-11-20 12:01:00"),
        ],
    )
    # sessions read the seeds geo_time_zones and time_zone_offsets for their local time
    run_dbt(*BUILD_SEEDS_AND_MODELS, "--vars", AS_OF, "--select", *LOCAL_TIME_SEEDS, *MODELS, db=db)
    assert _sessions(db) == [
        ("a3", _session_id("a3", "x1"), "a3", 1),
        ("a3", _session_id("a3", "x3"), "a3", 1),
        ("b7", _session_id("b7", "y1"), "u7", 1),
    ]

    # x2 happened between x1 and x3 but lands two days later; u7 then asks to be erased
    _insert_events(db, [("x2", "a3", None, "2026-11-20 10:25:00", "2026-11-22 10:25:00")])
    con = duckdb.connect(str(db))
    con.execute(
        """insert into raw.customers (user_id, email, updated_at, deleted_at)
           values ('u7', 'u7@example.com', '2026-11-22 11:00:00', '2026-11-22 11:00:00')"""
    )
    con.close()
    run_dbt("run", "--vars", AS_OF, *SELECT, db=db)

    assert _sessions(db) == [("a3", _session_id("a3", "x1"), "a3", 3)]
    con = duckdb.connect(str(db), read_only=True)
    page_views = con.execute(
        "select page_view_id, session_id from analytics_core.fct_page_views order by 1"
    ).fetchall()
    con.close()
    assert page_views == [(event, _session_id("a3", "x1")) for event in ("x1", "x2", "x3")]
