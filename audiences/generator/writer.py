"""Writes generated Arrow batches into DuckDB atomically.

Rows go into staging tables first (`<schema>.__gen_<table>`); one short transaction then
swaps them in (replace mode) or appends them (append mode). A crash before that
transaction leaves the raw tables untouched; leftover staging tables are dropped by the
next run.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

TABLES: dict[str, list[tuple[str, str]]] = {
    "events": [
        ("event_id", "VARCHAR"),
        ("anonymous_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("session_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("page_type", "VARCHAR"),
        ("page_url", "VARCHAR"),
        ("product_id", "VARCHAR"),
        ("product_category", "VARCHAR"),
        ("engaged_seconds", "INTEGER"),
        ("search_term", "VARCHAR"),
        ("scroll_depth_percent", "INTEGER"),
        ("device_type", "VARCHAR"),
        ("browser", "VARCHAR"),
        ("os", "VARCHAR"),
        ("country", "VARCHAR"),
        ("region", "VARCHAR"),
        ("city", "VARCHAR"),
        ("referrer", "VARCHAR"),
        ("utm_source", "VARCHAR"),
        ("utm_medium", "VARCHAR"),
        ("utm_campaign", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("loaded_at", "TIMESTAMP"),
    ],
    "orders": [
        ("order_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("ordered_at", "TIMESTAMP"),
        ("status", "VARCHAR"),
        ("order_total", "DECIMAL(18,2)"),
        ("currency", "VARCHAR"),
        ("loaded_at", "TIMESTAMP"),
    ],
    "order_items": [
        ("order_id", "VARCHAR"),
        ("line_number", "INTEGER"),
        ("product_id", "VARCHAR"),
        ("product_category", "VARCHAR"),
        ("quantity", "INTEGER"),
        ("unit_price", "DECIMAL(18,2)"),
    ],
    "customers": [
        ("user_id", "VARCHAR"),
        ("email", "VARCHAR"),
        ("phone", "VARCHAR"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("birth_date", "DATE"),
        ("gender", "VARCHAR"),
        ("country", "VARCHAR"),
        ("region", "VARCHAR"),
        ("city", "VARCHAR"),
        ("postal_code", "VARCHAR"),
        ("signup_at", "TIMESTAMP"),
        ("updated_at", "TIMESTAMP"),
        ("email_consent", "BOOLEAN"),
        ("ads_consent", "BOOLEAN"),
        ("consent_updated_at", "TIMESTAMP"),
        ("deleted_at", "TIMESTAMP"),
    ],
    "email_events": [
        ("event_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("campaign_id", "VARCHAR"),
        ("event_type", "VARCHAR"),
        ("occurred_at", "TIMESTAMP"),
        ("loaded_at", "TIMESTAMP"),
    ],
    # optional in the raw contract (docs/contracts/foundation-models.md); long format, one row
    # per (response, question, chosen option); written by audiences/generator/surveys.py
    "survey_responses": [
        ("response_id", "VARCHAR"),
        ("user_id", "VARCHAR"),
        ("email", "VARCHAR"),
        ("question_key", "VARCHAR"),
        ("answer", "VARCHAR"),
        ("answered_at", "TIMESTAMP"),
    ],
}

STAGING_PREFIX = "__gen_"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Writer:
    """Collects rows per table in staging tables, then publishes them in one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, schema: str, append: bool) -> None:
        self.con = con
        self.schema = schema
        self.append = append
        self.rows: dict[str, int] = dict.fromkeys(TABLES, 0)

    def _staging(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(STAGING_PREFIX + table)}"

    def _target(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(table)}"

    def open(self) -> None:
        self.con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema)}")
        for table, cols in TABLES.items():
            ddl = ", ".join(f"{quote(c)} {t}" for c, t in cols)
            self.con.execute(f"CREATE OR REPLACE TABLE {self._staging(table)} ({ddl})")

    def write(self, table: str, data: pa.Table) -> None:
        if data.num_rows == 0:
            return
        names = [c for c, _ in TABLES[table]]
        data = data.select(names)
        self.con.register("__gen_batch", data)
        try:
            self.con.execute(
                f"INSERT INTO {self._staging(table)} SELECT {', '.join(map(quote, names))} "
                "FROM __gen_batch"
            )
        finally:
            self.con.unregister("__gen_batch")
        self.rows[table] += data.num_rows

    def publish(self) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for table, cols in TABLES.items():
                if self.append:
                    ddl = ", ".join(f"{quote(c)} {t}" for c, t in cols)
                    con.execute(f"CREATE TABLE IF NOT EXISTS {self._target(table)} ({ddl})")
                    self._add_missing_columns(table, cols)
                    con.execute(
                        f"INSERT INTO {self._target(table)} BY NAME "
                        f"SELECT * FROM {self._staging(table)}"
                    )
                    con.execute(f"DROP TABLE {self._staging(table)}")
                else:
                    con.execute(f"DROP TABLE IF EXISTS {self._target(table)}")
                    con.execute(f"ALTER TABLE {self._staging(table)} RENAME TO {quote(table)}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _add_missing_columns(self, table: str, cols: list[tuple[str, str]]) -> None:
        """Tables written by an older generator lack newer optional columns (search_term,
        scroll_depth_percent): add them, null on the existing rows."""
        have = {
            r[0]
            for r in self.con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                [self.schema, table],
            ).fetchall()
        }
        for name, sql_type in cols:
            if name not in have:
                self.con.execute(
                    f"ALTER TABLE {self._target(table)} ADD COLUMN {quote(name)} {sql_type}"
                )

    def discard(self) -> None:
        for table in TABLES:
            self.con.execute(f"DROP TABLE IF EXISTS {self._staging(table)}")

    def total_rows(self) -> dict[str, int]:
        out = {}
        for table in TABLES:
            out[table] = int(
                self.con.execute(f"SELECT count(*) FROM {self._target(table)}").fetchone()[0]
            )
        return out
