"""Optional raw columns (search_term, scroll_depth_percent) of the raw contract, through dbt.

A raw.events table written before these columns existed still builds (staging yields null);
one with a column of the wrong type stops dbt with a message naming table and column.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from dbt_support import create_raw_tables

AS_OF = "{as_of: '2026-11-24T00:00:00'}"
EVENTS_WITHOUT_OPTIONAL = """event_id varchar, anonymous_id varchar, user_id varchar,
    session_id varchar, event_type varchar, page_type varchar, page_url varchar,
    product_id varchar, product_category varchar, engaged_seconds integer,
    device_type varchar, browser varchar, os varchar, country varchar, region varchar,
    city varchar, referrer varchar, utm_source varchar, utm_medium varchar,
    utm_campaign varchar, occurred_at timestamp, loaded_at timestamp"""


def _insert(db: Path, sql: str) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute(sql)
    finally:
        con.close()


def _staged(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            "select event_id, search_term, scroll_depth_percent "
            "from analytics_staging.stg_tracker__events order by event_id"
        ).fetchall()
    finally:
        con.close()


def test_raw_events_without_the_optional_columns_stage_them_as_null(tmp_path, run_dbt):
    db = tmp_path / "old.duckdb"
    create_raw_tables(db, overrides={"events": EVENTS_WITHOUT_OPTIONAL})
    _insert(
        db,
        """insert into raw.events (event_id, anonymous_id, event_type, page_type, occurred_at,
           loaded_at) values
           ('e1', 'a1', 'search', 'search', '2026-11-20 10:00:00', '2026-11-20 10:01:00'),
           ('e2', 'a1', 'page_ping', 'home', '2026-11-20 10:00:30', '2026-11-20 10:01:00')""",
    )

    run_dbt("build", "--vars", AS_OF, "--select", "staging.tracker", db=db)

    assert _staged(db) == [("e1", None, None), ("e2", None, None)]


def test_raw_events_with_the_optional_columns_stage_their_values(tmp_path, run_dbt):
    db = tmp_path / "new.duckdb"
    create_raw_tables(db)
    _insert(
        db,
        """insert into raw.events (event_id, anonymous_id, event_type, page_type, search_term,
           scroll_depth_percent, occurred_at, loaded_at) values
           ('e1', 'a1', 'search', 'search', ' Tent ', null,
            '2026-11-20 10:00:00', '2026-11-20 10:01:00'),
           ('e2', 'a1', 'page_ping', 'home', null, 42,
            '2026-11-20 10:00:30', '2026-11-20 10:01:00')""",
    )

    run_dbt("build", "--vars", AS_OF, "--select", "staging.tracker", db=db)

    assert _staged(db) == [("e1", "Tent", None), ("e2", None, 42)]


def test_optional_column_of_the_wrong_type_names_table_and_column(tmp_path, run_dbt):
    db = tmp_path / "wrong.duckdb"
    create_raw_tables(
        db,
        overrides={
            "events": EVENTS_WITHOUT_OPTIONAL
            + ", search_term varchar, scroll_depth_percent varchar"
        },
    )

    result = run_dbt("build", "--vars", AS_OF, "--select", "staging.tracker", db=db, check=False)

    assert result.returncode != 0
    assert (
        "column raw.events.scroll_depth_percent has type VARCHAR; this optional column must be "
        "an integer (or leave it out of the table)"
    ) in result.output
    assert "raw.events.search_term" not in result.output
