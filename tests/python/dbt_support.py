"""Helpers for tests that build the dbt project on a throw-away DuckDB warehouse."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_DIR = Path(__file__).resolve().parents[2]
DBT = str(Path(sys.executable).with_name("dbt"))
RAW_DDL = {
    "events": """event_id varchar, anonymous_id varchar, user_id varchar, session_id varchar,
        event_type varchar, page_type varchar, page_url varchar, product_id varchar,
        product_category varchar, engaged_seconds integer, device_type varchar, browser varchar,
        os varchar, country varchar, region varchar, city varchar, referrer varchar,
        utm_source varchar, utm_medium varchar, utm_campaign varchar, occurred_at timestamp,
        loaded_at timestamp""",
    "orders": """order_id varchar, user_id varchar, ordered_at timestamp, status varchar,
        order_total decimal(18,2), currency varchar, loaded_at timestamp""",
    "order_items": """order_id varchar, line_number integer, product_id varchar,
        product_category varchar, quantity integer, unit_price decimal(18,2)""",
    "customers": """user_id varchar, email varchar, phone varchar, first_name varchar,
        last_name varchar, birth_date date, gender varchar, country varchar, region varchar,
        city varchar, postal_code varchar, signup_at timestamp, updated_at timestamp,
        email_consent boolean, ads_consent boolean, consent_updated_at timestamp,
        deleted_at timestamp""",
    "email_events": """event_id varchar, user_id varchar, campaign_id varchar,
        event_type varchar, occurred_at timestamp, loaded_at timestamp""",
}


@dataclass(frozen=True)
class DbtResult:
    returncode: int
    output: str


def create_raw_tables(path: Path, overrides: dict[str, str] | None = None) -> None:
    """Creates the five raw tables, empty, with the source contract's column types."""
    ddl = {**RAW_DDL, **(overrides or {})}
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema if not exists raw")
        for table, columns in ddl.items():
            con.execute(f"create or replace table raw.{table} ({columns})")
    finally:
        con.close()


def run_dbt_command(*args: str, db: Path, work_dir: Path, check: bool = True) -> DbtResult:
    """Runs `dbt <args>` on the project against the DuckDB file `db`."""
    env = {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
    }
    completed = subprocess.run(
        [
            DBT,
            *args,
            "--target-path",
            str(work_dir / f"target-{db.stem}"),
            "--log-path",
            str(work_dir / "logs"),
        ],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    result = DbtResult(completed.returncode, completed.stdout + completed.stderr)
    if check and result.returncode != 0:
        raise AssertionError(f"dbt {' '.join(args)} failed:\n{result.output[-4000:]}")
    return result
