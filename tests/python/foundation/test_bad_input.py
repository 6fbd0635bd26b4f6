"""Bad raw input stops dbt before anything is written, naming the table and the column."""

from __future__ import annotations

from pathlib import Path

import duckdb
from dbt_support import BUILD_SEEDS_AND_MODELS, LOCAL_TIME_SEEDS, create_raw_tables

AS_OF = "{as_of: '2026-11-24T00:00:00'}"


def _relations(db: Path) -> set[str]:
    """Every table and view in the file (dbt may create empty schemas before its hooks run)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables"
        ).fetchall()
        return {row[0] for row in rows}
    finally:
        con.close()


def test_missing_column_names_table_and_column_and_builds_nothing(tmp_path, run_dbt):
    db = tmp_path / "missing.duckdb"
    create_raw_tables(
        db,
        overrides={
            "events": """event_id varchar, anonymous_id varchar, user_id varchar,
                session_id varchar, event_type varchar, page_type varchar, page_url varchar,
                product_id varchar, product_category varchar, engaged_seconds integer,
                device_type varchar, browser varchar, os varchar, country varchar,
                region varchar, city varchar, referrer varchar, utm_source varchar,
                utm_medium varchar, utm_campaign varchar, loaded_at timestamp"""
        },
    )
    before = _relations(db)

    result = run_dbt("build", "--vars", AS_OF, db=db, check=False)

    assert result.returncode != 0
    assert "table raw.events is missing column(s): occurred_at" in result.output
    assert _relations(db) == before


def test_malformed_timestamp_names_column_and_row_and_keeps_previous_build(tmp_path, run_dbt):
    db = tmp_path / "malformed.duckdb"
    create_raw_tables(db)
    con = duckdb.connect(str(db))
    con.execute(
        """insert into raw.events (event_id, anonymous_id, event_type, page_type, occurred_at,
           loaded_at) values
           ('e1', 'a1', 'page_view', 'home', '2026-11-20 10:00:00', '2026-11-20 10:01:00')"""
    )
    con.close()
    # sessions read the seeds geo_time_zones and time_zone_offsets for their local time
    run_dbt(
        *BUILD_SEEDS_AND_MODELS,
        "--vars",
        AS_OF,
        "--select",
        *LOCAL_TIME_SEEDS,
        "+fct_sessions",
        db=db,
    )

    con = duckdb.connect(str(db))
    con.execute("alter table raw.events alter loaded_at type varchar")
    con.execute(
        """insert into raw.events (event_id, anonymous_id, event_type, page_type, occurred_at,
           loaded_at) values
           ('e2', 'a1', 'page_view', 'cart', '2026-11-20 10:05:00', 'yesterday at noon')"""
    )
    con.close()

    result = run_dbt("run", "--vars", AS_OF, "--select", "+fct_sessions", db=db, check=False)

    assert result.returncode != 0
    assert (
        "column raw.events.loaded_at has 1 value(s) that are not timestamps, "
        "e.g. 'yesterday at noon' (event_id = 'e2')"
    ) in result.output
    con = duckdb.connect(str(db), read_only=True)
    sessions = con.execute(
        "select count(*), min(page_views) from analytics_core.fct_sessions"
    ).fetchone()
    con.close()
    assert sessions == (1, 1)
