"""Same inputs, same tables on DuckDB and PostgreSQL: the columns the step reads are copied
from the DuckDB test warehouse into a PostgreSQL database created for this test (dropped
afterwards), the step runs on both, and every table it writes is compared row for row.
Without a reachable PostgreSQL the test is skipped (failed in CI): `make postgres-up`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psycopg2
import pytest
from ml_support import ML_TABLES, open_warehouse
from psycopg2 import sql
from psycopg2.extras import execute_values

from audiences.ml.command import STEPS, run_steps
from audiences.ml.settings import MlSettings
from audiences.warehouse_copy import postgres_dsn_from_env
from reverse_etl.warehouse.postgres import PostgresWarehouse

#: (schema, table): the columns the step reads
INPUTS = {
    ("analytics_core", "dim_users"): [
        "person_id", "sessions_30d", "page_views_30d", "product_views_30d", "add_to_carts_30d",
        "orders_lifetime", "revenue_lifetime", "average_order_value", "days_since_last_visit",
        "evening_session_share", "email_open_rate_90d", "primary_device_type",
        "top_product_category_lifetime", "first_touch_utm_medium", "time_on_site_seconds_30d",
        "email_opens_30d", "orders_30d",
    ],
    ("analytics_core", "dim_user_interests"): [
        "person_id", "interest_outdoors", "interest_cooking", "interest_tech",
        "interest_fashion", "interest_fitness", "interest_travel", "survey_value_primary",
    ],
    ("analytics_segments", "segment_memberships"): ["person_id", "segment_key"],
    ("analytics_core", "fct_page_views"): [
        "page_view_id", "person_id", "page_type", "product_id", "viewed_at", "dwell_seconds",
    ],
    ("analytics_core", "fct_sessions"): ["person_id", "started_at"],
    ("analytics_core", "fct_orders"): [
        "order_id", "person_id", "ordered_at", "is_completed", "order_total",
    ],
    ("analytics_intermediate", "int_tracker__sessionized_events"): [
        "person_id", "event_type", "product_id", "occurred_at",
    ],
    ("analytics_intermediate", "int_cart_abandonments"): [
        "person_id", "abandoned_at", "is_abandoned",
    ],
    ("analytics_staging", "stg_esp__email_events"): ["user_id", "email_event_type", "occurred_at"],
    ("analytics_staging", "stg_shop__order_items"): ["order_id", "product_id"],
    ("analytics_seeds", "intent_weights"): ["behaviour", "points"],
}  # fmt: skip
PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "bigint",
    "HUGEINT": "bigint",
    "DOUBLE": "double precision",
    "TIMESTAMP": "timestamp",
    "BOOLEAN": "boolean",
}


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    dsn = postgres_dsn_from_env()
    try:
        admin = psycopg2.connect(connect_timeout=5, **dsn)
    except psycopg2.OperationalError as error:
        message = f"PostgreSQL is not reachable: {str(error).strip()}. Run `make postgres-up`."
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    admin.autocommit = True
    name = f"audiences_mltest_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        yield " ".join(f"{k}={v}" for k, v in {**dsn, "dbname": name}.items())
    finally:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
        admin.close()


def copy_inputs(duckdb_file: Path, dsn: str) -> None:
    source = duckdb.connect(str(duckdb_file), read_only=True)
    target = psycopg2.connect(dsn)
    try:
        with target.cursor() as cur:
            for (schema, table), columns in INPUTS.items():
                described = source.execute(
                    f"select {', '.join(columns)} from {schema}.{table} limit 0"
                ).description
                ddl = ", ".join(
                    f"{name} {PG_TYPES[str(desc[1]).upper()]}"
                    for name, desc in zip(columns, described, strict=True)
                )
                cur.execute(f"create schema if not exists {schema}")
                cur.execute(f"create table {schema}.{table} ({ddl})")
                rows = source.execute(f"select {', '.join(columns)} from {schema}.{table}")
                execute_values(
                    cur, f"insert into {schema}.{table} values %s", rows.fetchall(), page_size=5000
                )
        target.commit()
    finally:
        target.close()
        source.close()


def _tables(wh, as_of) -> dict[str, list[tuple]]:
    out = {}
    for table, order in ML_TABLES.items():
        where = " where as_of = ?" if table == "model_metrics" else ""
        params = (as_of,) if where else ()
        out[table] = wh.query(f"select * from ml.{table}{where} order by {order}", params)
    return out


def test_duckdb_and_postgres_write_the_same_tables(
    warehouse_copy: Path, postgres_dsn: str, settings: MlSettings
):
    copy_inputs(warehouse_copy, postgres_dsn)
    steps = STEPS
    pg = PostgresWarehouse(postgres_dsn)
    try:
        run_steps(pg, settings, steps, lambda _: None)
        on_postgres = _tables(pg, settings.as_of)
    finally:
        pg.close()
    duck = open_warehouse(warehouse_copy)
    try:
        run_steps(duck, settings, steps, lambda _: None)
        on_duckdb = _tables(duck, settings.as_of)
    finally:
        duck.close()
    for table in ML_TABLES:
        assert on_postgres[table], table
        assert on_postgres[table] == on_duckdb[table], table
