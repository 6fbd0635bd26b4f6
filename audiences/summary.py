"""`audiences summary`: what the demo built, in one screen."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import duckdb
from rich.console import Console
from rich.table import Table

from audiences.raw_tables import present_raw_tables
from audiences.warehouse_path import duckdb_path


@dataclass(frozen=True)
class WarehouseSummary:
    raw_rows: dict[str, int]
    page_views: int
    sessions: int
    people: int
    identified_people: int
    identified_sessions: int


def _find_relation(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    row = con.execute(
        "select table_schema from information_schema.tables where table_name = ? "
        "order by table_schema limit 1",
        [name],
    ).fetchone()
    return f'"{row[0]}"."{name}"' if row else None


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    return int(con.execute(sql).fetchone()[0])


def summarize(path: Path, raw_schema: str = "raw") -> WarehouseSummary:
    """Counts rows in the raw tables (the optional ones when present) and the core facts of
    the DuckDB warehouse at `path`."""
    if not path.exists():
        raise click.ClickException(
            f"No warehouse at {path}. Run `audiences generate` and `dbt build` first."
        )
    con = duckdb.connect(str(path), read_only=True)
    try:
        raw_rows = {
            table: _count(con, f'select count(*) from "{raw_schema}"."{table}"')
            for table in present_raw_tables(con, raw_schema)
        }
        sessions = _find_relation(con, "fct_sessions")
        page_views = _find_relation(con, "fct_page_views")
        if sessions is None or page_views is None:
            raise click.ClickException(
                f"{path} has no fct_sessions / fct_page_views yet. Run `dbt build` first."
            )
        return WarehouseSummary(
            raw_rows=raw_rows,
            page_views=_count(con, f"select count(*) from {page_views}"),
            sessions=_count(con, f"select count(*) from {sessions}"),
            people=_count(con, f"select count(distinct person_id) from {sessions}"),
            identified_people=_count(con, f"select count(distinct user_id) from {sessions}"),
            identified_sessions=_count(
                con, f"select count(*) from {sessions} where user_id is not null"
            ),
        )
    finally:
        con.close()


def print_summary(summary: WarehouseSummary, console: Console) -> None:
    table = Table(title="Audiences warehouse", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("rows", justify="right")
    for name, rows in summary.raw_rows.items():
        table.add_row(f"raw.{name}", f"{rows:,}")
    table.add_row("page views (fct_page_views)", f"{summary.page_views:,}")
    table.add_row("sessions (fct_sessions)", f"{summary.sessions:,}")
    table.add_row("people (distinct person_id)", f"{summary.people:,}")
    table.add_row("identified people (user_id)", f"{summary.identified_people:,}")
    table.add_row("sessions of identified people", f"{summary.identified_sessions:,}")
    console.print(table)


@click.command("summary")
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def summary_command(as_json: bool) -> None:
    """Rows per raw table, page views, sessions and people in the DuckDB warehouse."""
    result = summarize(duckdb_path())
    if as_json:
        click.echo(json.dumps(asdict(result), indent=2))
    else:
        print_summary(result, Console())
