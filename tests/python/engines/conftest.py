"""Fixtures for the engine tests: a PostgreSQL database of their own."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg2
import pytest
from psycopg2 import sql

from audiences.warehouse_copy import postgres_dsn_from_env


def _postgres_or_skip() -> dict[str, str]:
    dsn = postgres_dsn_from_env()
    try:
        psycopg2.connect(connect_timeout=5, **dsn).close()
    except psycopg2.OperationalError as error:
        message = (
            f"PostgreSQL is not reachable at {dsn['host']}:{dsn['port']} as {dsn['user']} "
            f"(database {dsn['dbname']}): {str(error).strip()}. Run `make postgres-up`."
        )
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the comparison must run)")
        pytest.skip(message)
    return dsn


@pytest.fixture
def postgres_database() -> Iterator[dict[str, str]]:
    """A PostgreSQL database of its own for this test run, dropped afterwards."""
    dsn = _postgres_or_skip()
    name = f"audiences_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(**dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:
            cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        yield {**dsn, "dbname": name}
    finally:
        with admin.cursor() as cur:
            cur.execute(
                sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
            )
        admin.close()
