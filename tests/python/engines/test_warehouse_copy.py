"""`audiences load-postgres`: exact types, replacement in one transaction, views survive."""

from __future__ import annotations

from decimal import Decimal

import click
import duckdb
import psycopg2
import pytest
from dbt_support import create_raw_tables

from audiences.warehouse_copy import copy_raw_schema, postgres_type, spark_type


def _fill(db, events: int) -> None:
    create_raw_tables(db)
    con = duckdb.connect(str(db))
    con.execute(
        """insert into raw.events (event_id, anonymous_id, user_id, page_url, engaged_seconds,
               occurred_at, loaded_at)
           select 'e' || i, 'a' || (i % 7), case when i % 2 = 0 then '' end,
                  'say "hi", then' || chr(10) || 'leave', i,
                  timestamp '2026-11-20 10:00:00.123456' + to_seconds(i),
                  timestamp '2026-11-20 10:01:00'
           from range(?) as t(i)""",
        [events],
    )
    con.execute(
        """insert into raw.orders values
           ('o1', 'u1', timestamp '2026-11-20 10:00:00', 'completed', 12.34, 'EUR',
            timestamp '2026-11-20 10:05:00')"""
    )
    con.execute(
        """insert into raw.customers (user_id, birth_date, email_consent, deleted_at)
           values ('u1', date '1990-02-03', true, null)"""
    )
    con.close()


def _columns(cur, table: str) -> list[tuple[str, str]]:
    cur.execute(
        """select column_name, data_type from information_schema.columns
           where table_schema = 'raw' and table_name = %s order by ordinal_position""",
        (table,),
    )
    return cur.fetchall()


def test_copy_keeps_types_values_and_dependent_views(tmp_path, postgres_database):
    db = tmp_path / "copy.duckdb"
    _fill(db, 2_500)
    results = copy_raw_schema(db, postgres_database, batch_rows=1_000)
    assert {r.table: r.rows for r in results} == {
        "events": 2_500,
        "orders": 1,
        "order_items": 0,
        "customers": 1,
        "email_events": 0,
        "survey_responses": 0,
    }
    assert all(r.recreated for r in results)

    con = psycopg2.connect(**postgres_database)
    con.autocommit = True
    with con.cursor() as cur:
        assert dict(_columns(cur, "orders"))["order_total"] == "numeric"
        assert dict(_columns(cur, "events"))["occurred_at"] == "timestamp without time zone"
        assert dict(_columns(cur, "events"))["engaged_seconds"] == "integer"
        assert dict(_columns(cur, "customers"))["email_consent"] == "boolean"
        assert dict(_columns(cur, "customers"))["birth_date"] == "date"
        cur.execute(
            "select numeric_precision, numeric_scale from information_schema.columns "
            "where table_schema = 'raw' and column_name = 'order_total'"
        )
        assert cur.fetchone() == (18, 2)
        cur.execute(
            "select count(*), count(user_id), count(*) filter (where user_id = ''), "
            "min(occurred_at)::text, max(page_url) from raw.events"
        )
        assert cur.fetchone() == (
            2_500,
            1_250,
            1_250,
            "2026-11-20 10:00:00.123456",
            'say "hi", then\nleave',
        )
        cur.execute("select order_total from raw.orders")
        assert cur.fetchone()[0] == Decimal("12.34")
        cur.execute("create view public.events_seen as select event_id from raw.events")

    # second load: same columns, so tables are truncated and refilled; the view survives
    _fill(db, 10)
    results = copy_raw_schema(db, postgres_database)
    assert not any(r.recreated for r in results)
    with con.cursor() as cur:
        cur.execute("select count(*) from public.events_seen")
        assert cur.fetchone()[0] == 10
    con.close()


def test_a_failed_copy_changes_nothing(tmp_path, postgres_database):
    db = tmp_path / "good.duckdb"
    _fill(db, 100)
    copy_raw_schema(db, postgres_database)

    # a missing table is found before PostgreSQL is touched
    missing = tmp_path / "missing.duckdb"
    _fill(missing, 5)
    con = duckdb.connect(str(missing))
    con.execute("drop table raw.email_events")
    con.close()
    with pytest.raises(click.ClickException, match=r"raw\.email_events"):
        copy_raw_schema(missing, postgres_database)

    # PostgreSQL text cannot hold a NUL byte: the last table's COPY fails after the other
    # four were replaced, and the transaction takes them back
    bad = tmp_path / "bad.duckdb"
    _fill(bad, 5)
    con = duckdb.connect(str(bad))
    con.execute("insert into raw.email_events (event_id) values ('x' || chr(0) || 'y')")
    con.close()
    with pytest.raises(psycopg2.Error):
        copy_raw_schema(bad, postgres_database)

    pg = psycopg2.connect(**postgres_database)
    with pg.cursor() as cur:
        cur.execute("select count(*) from raw.events")
        assert cur.fetchone()[0] == 100
    pg.close()


@pytest.mark.parametrize(
    ("duckdb_type", "postgres", "spark"),
    [
        ("VARCHAR", "text", "string"),
        ("TIMESTAMP", "timestamp", "timestamp"),
        ("DECIMAL(18,2)", "numeric(18,2)", "decimal(18,2)"),
        ("BOOLEAN", "boolean", "boolean"),
        ("INTEGER", "integer", "int"),
        ("DATE", "date", "date"),
        ("BIGINT", "bigint", "bigint"),
        ("DOUBLE", "double precision", "double"),
    ],
)
def test_type_mapping(duckdb_type, postgres, spark):
    assert postgres_type(duckdb_type) == postgres
    assert spark_type(duckdb_type) == spark


def test_unknown_type_is_a_clear_error():
    with pytest.raises(click.ClickException, match="STRUCT"):
        postgres_type("STRUCT(a INTEGER)")


def test_the_optional_survey_table_is_copied_when_present_and_dropped_when_gone(
    tmp_path, postgres_database
):
    db = tmp_path / "survey.duckdb"
    _fill(db, 5)
    con = duckdb.connect(str(db))
    con.execute(
        """insert into raw.survey_responses values
           ('r1', 'u1', null, 'interests', 'tech', timestamp '2026-11-20 10:00:00')"""
    )
    con.close()
    results = copy_raw_schema(db, postgres_database)
    assert {r.table: r.rows for r in results}["survey_responses"] == 1
    pg = psycopg2.connect(**postgres_database)
    pg.autocommit = True
    with pg.cursor() as cur:
        assert dict(_columns(cur, "survey_responses"))["answered_at"] == (
            "timestamp without time zone"
        )

    # a file without the table: the target loses its stale copy
    con = duckdb.connect(str(db))
    con.execute("drop table raw.survey_responses")
    con.close()
    results = copy_raw_schema(db, postgres_database)
    assert "survey_responses" not in {r.table for r in results}
    with pg.cursor() as cur:
        assert _columns(cur, "survey_responses") == []
    pg.close()
