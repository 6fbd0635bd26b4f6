"""`audiences report`: segment sizes, overlaps between the main segments and the change
since the previous build, read from the DuckDB warehouse.

Relations are found through dbt's ``target/manifest.json`` (never a hard-coded schema).
Each report records the sizes it saw in ``audiences_report.segment_size_history`` inside
the same DuckDB file; a build is identified by its ``as_of`` and the sizes themselves, so
running the report twice on one build does not hide the change since the build before.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import duckdb
from rich.console import Console
from rich.table import Table

HISTORY_SCHEMA = "audiences_report"
HISTORY_TABLE = f"{HISTORY_SCHEMA}.segment_size_history"
MICRO_SEGMENT_PREFIXES = ("interested_in_",)


@dataclass
class SegmentSize:
    segment_key: str
    segment_family: str
    members: int
    holdout: int
    audience: int
    previous_members: int | None = None
    change: int | None = None


@dataclass
class Overlap:
    segment_a: str
    segment_b: str
    both: int
    share_of_a: float
    share_of_b: float


class ReportError(click.ClickException):
    """A problem the user can fix (missing manifest, model not built, ...)."""


def find_relation(manifest_path: Path, model_name: str) -> str:
    """The relation name dbt built `model_name` as, from the manifest."""
    if not manifest_path.exists():
        raise ReportError(
            f"{manifest_path} not found: run `dbt build` (or `dbt parse`) first, "
            "or pass --target-path."
        )
    manifest = json.loads(manifest_path.read_text())
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") == "model" and node.get("name") == model_name:
            relation = node.get("relation_name")
            if relation:
                return relation
            return f'"{node["schema"]}"."{node.get("alias") or node["name"]}"'
    raise ReportError(f"model {model_name!r} is not in {manifest_path}")


def _relation_exists(con: duckdb.DuckDBPyConnection, relation: str) -> bool:
    try:
        con.execute(f"select 1 from {relation} limit 0")
    except duckdb.Error:
        return False
    return True


def _resolve(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """The manifest's relation, or the same schema.table in the default catalog when the
    file was opened under another catalog name."""
    if _relation_exists(con, relation):
        return relation
    parts = relation.split(".")
    if len(parts) == 3 and _relation_exists(con, ".".join(parts[1:])):
        return ".".join(parts[1:])
    raise ReportError(f"{relation} does not exist in the warehouse: run `dbt build` first.")


def read_sizes(con: duckdb.DuckDBPyConnection, memberships: str) -> tuple[Any, list[SegmentSize]]:
    as_of = con.execute(f"select max(as_of) from {memberships}").fetchone()[0]
    rows = con.execute(
        f"""
        select
            segment_key,
            min(segment_family) as segment_family,
            count(*) as members,
            count(*) filter (where is_holdout) as holdout,
            count(*) filter (where not is_holdout and user_id is not null) as audience
        from {memberships}
        group by segment_key
        order by members desc, segment_key
        """
    ).fetchall()
    return as_of, [SegmentSize(r[0], r[1], int(r[2]), int(r[3]), int(r[4])) for r in rows]


def main_segments(sizes: list[SegmentSize], top: int) -> list[str]:
    """The largest segments that are not micro-segments (one per product category)."""
    keys = [s.segment_key for s in sizes if not s.segment_key.startswith(MICRO_SEGMENT_PREFIXES)]
    return keys[:top]


def read_overlaps(
    con: duckdb.DuckDBPyConnection, memberships: str, keys: list[str], sizes: list[SegmentSize]
) -> list[Overlap]:
    if len(keys) < 2:
        return []
    members = {s.segment_key: s.members for s in sizes}
    rows = con.execute(
        f"""
        with main as (
            select person_id, segment_key from {memberships}
            where segment_key in (select unnest(?::varchar[]))
        )
        select a.segment_key, b.segment_key, count(*)
        from main as a
        inner join main as b
            on a.person_id = b.person_id and a.segment_key < b.segment_key
        group by 1, 2
        """,
        [keys],
    ).fetchall()
    both = {(a, b): int(n) for a, b, n in rows}
    overlaps = []
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            first, second = sorted((a, b))
            n = both.get((first, second), 0)
            overlaps.append(
                Overlap(
                    a,
                    b,
                    n,
                    n / members[a] if members[a] else 0.0,
                    n / members[b] if members[b] else 0.0,
                )
            )
    return overlaps


def build_key(as_of: Any, sizes: list[SegmentSize]) -> str:
    text = json.dumps(
        [str(as_of)] + [[s.segment_key, s.members, s.holdout] for s in sizes], sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def ensure_history(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"create schema if not exists {HISTORY_SCHEMA}")
    con.execute(
        f"""
        create table if not exists {HISTORY_TABLE} (
            build_key varchar,
            as_of timestamp,
            recorded_at timestamp,
            segment_key varchar,
            segment_family varchar,
            members bigint,
            holdout bigint
        )
        """
    )


def previous_build(
    con: duckdb.DuckDBPyConnection, current_key: str
) -> tuple[Any, dict[str, tuple[int, str]]] | None:
    """The most recently recorded build other than the current one."""
    row = con.execute(
        f"""
        select build_key, max(as_of), max(recorded_at) as recorded_at
        from {HISTORY_TABLE}
        where build_key != ?
        group by build_key
        order by recorded_at desc
        limit 1
        """,
        [current_key],
    ).fetchone()
    if row is None:
        return None
    sizes = con.execute(
        f"select segment_key, members, segment_family from {HISTORY_TABLE} where build_key = ?",
        [row[0]],
    ).fetchall()
    return row[1], {k: (int(n), family) for k, n, family in sizes}


def record(con: duckdb.DuckDBPyConnection, key: str, as_of: Any, sizes: list[SegmentSize]) -> None:
    """Record this build's sizes once (a second report on the same build is a no-op)."""
    exists = con.execute(
        f"select count(*) from {HISTORY_TABLE} where build_key = ?", [key]
    ).fetchone()[0]
    if exists:
        # keep the build the most recent one
        con.execute(
            f"update {HISTORY_TABLE} set recorded_at = ? where build_key = ?",
            [datetime.now(UTC).replace(tzinfo=None), key],
        )
        return
    now = datetime.now(UTC).replace(tzinfo=None)
    con.executemany(
        f"insert into {HISTORY_TABLE} values (?, ?, ?, ?, ?, ?, ?)",
        [(key, as_of, now, s.segment_key, s.segment_family, s.members, s.holdout) for s in sizes],
    )


def build_report(
    database: str,
    target_path: str,
    top: int,
    write_history: bool,
    segments: tuple[str, ...] = (),
) -> dict:
    memberships_name = find_relation(Path(target_path) / "manifest.json", "segment_memberships")
    if not Path(database).exists():
        raise ReportError(f"DuckDB file {database} not found (set AUDIENCES_DUCKDB_PATH).")
    con = duckdb.connect(database)
    try:
        memberships = _resolve(con, memberships_name)
        as_of, sizes = read_sizes(con, memberships)
        key = build_key(as_of, sizes)
        ensure_history(con)
        previous = previous_build(con, key)
        previous_as_of = None
        if previous is not None:
            previous_as_of, previous_sizes = previous
            for s in sizes:
                s.previous_members = previous_sizes.get(s.segment_key, (0, ""))[0]
                s.change = s.members - s.previous_members
            for gone in sorted(set(previous_sizes) - {s.segment_key for s in sizes}):
                members, family = previous_sizes[gone]
                sizes.append(SegmentSize(gone, family, 0, 0, 0, members, -members))
        known = {s.segment_key for s in sizes if s.members > 0}
        unknown = [k for k in segments if k not in known]
        if unknown:
            raise ReportError(f"no members for segment(s) {', '.join(unknown)} in this build")
        keys = list(segments) or main_segments(sizes, top)
        overlaps = read_overlaps(con, memberships, keys, sizes)
        if write_history:
            record(con, key, as_of, [s for s in sizes if s.members > 0])
        people = con.execute(f"select count(distinct person_id) from {memberships}").fetchone()[0]
    finally:
        con.close()
    return {
        "relation": memberships,
        "as_of": str(as_of) if as_of is not None else None,
        "previous_as_of": str(previous_as_of) if previous_as_of is not None else None,
        "has_previous_build": previous is not None,
        "people_in_segments": int(people),
        "segments": [asdict(s) for s in sizes],
        "main_segments": keys,
        "overlaps": [asdict(o) for o in overlaps],
    }


def _fmt_change(change: int | None) -> str:
    if change is None:
        return "-"
    if change > 0:
        return f"[green]+{change:,}[/green]"
    if change < 0:
        return f"[red]{change:,}[/red]"
    return "0"


def render(data: dict, console: Console) -> None:
    title = f"Segments as of {data['as_of']}"
    if data["has_previous_build"]:
        title += f" (change since the build as of {data['previous_as_of']})"
    sizes = Table(title=title, title_justify="left")
    for column, justify in [
        ("segment", "left"),
        ("family", "left"),
        ("members", "right"),
        ("holdout", "right"),
        ("in audiences", "right"),
        ("change", "right"),
    ]:
        sizes.add_column(column, justify=justify, no_wrap=True)
    for s in data["segments"]:
        sizes.add_row(
            s["segment_key"],
            s["segment_family"],
            f"{s['members']:,}",
            f"{s['holdout']:,}",
            f"{s['audience']:,}",
            _fmt_change(s["change"]),
        )
    console.print(sizes)
    console.print(
        f"{data['people_in_segments']:,} people in at least one segment ({data['relation']})."
    )
    if not data["has_previous_build"]:
        console.print("No previous build recorded: changes will show from the next build.")
    keys = data["main_segments"]
    if len(keys) >= 2:
        both = {(o["segment_a"], o["segment_b"]): o for o in data["overlaps"]}
        matrix = Table(
            title="Overlaps between the main segments: people in both (% of the row segment)",
            title_justify="left",
        )
        matrix.add_column("segment", no_wrap=True)
        for number in range(1, len(keys) + 1):
            matrix.add_column(f"({number})", justify="right", no_wrap=True)
        members = {s["segment_key"]: s["members"] for s in data["segments"]}
        for a in keys:
            cells = []
            for b in keys:
                if a == b:
                    cells.append(f"[dim]{members[a]:,}[/dim]")
                    continue
                o = both.get((a, b)) or both.get((b, a))
                n = o["both"] if o else 0
                share = n / members[a] if members[a] else 0.0
                cells.append(f"{n:,} ({share:.0%})")
            matrix.add_row(f"({keys.index(a) + 1}) {a}", *cells)
        console.print(matrix)


@click.command("report")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@click.option(
    "--database",
    envvar="AUDIENCES_DUCKDB_PATH",
    default="audiences.duckdb",
    show_default=True,
    help="DuckDB file (env AUDIENCES_DUCKDB_PATH).",
)
@click.option(
    "--target-path",
    envvar="DBT_TARGET_PATH",
    default="target",
    show_default=True,
    help="dbt target directory holding manifest.json.",
)
@click.option(
    "--top",
    default=6,
    show_default=True,
    help="How many of the largest segments to show overlaps for.",
)
@click.option(
    "--segment",
    "segments",
    multiple=True,
    help="Main segment to show overlaps for (repeatable; default: the --top largest).",
)
@click.option(
    "--no-record", is_flag=True, help="Do not record this build's sizes for the next report."
)
@click.option(
    "--html",
    "html_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the HTML report (one static file, charts inline) to this path instead "
    "(docs/report.md).",
)
@click.option(
    "--target",
    type=click.Choice(["duckdb", "postgres"]),
    default="duckdb",
    show_default=True,
    help="Warehouse the HTML report reads (PostgreSQL from AUDIENCES_PG_DSN).",
)
def report(
    as_json: bool,
    database: str,
    target_path: str,
    top: int,
    segments: tuple[str, ...],
    no_record: bool,
    html_path: Path | None,
    target: str,
) -> None:
    """Segment sizes, overlaps between the main segments and change since the previous build
    (with --html: the HTML report of segment health, lift, KPIs and match rates)."""
    if html_path is not None:
        _write_html(html_path, database, target_path, target)
        return
    data = build_report(database, target_path, top, write_history=not no_record, segments=segments)
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        render(data, Console(width=max(120, Console().width)))


def _write_html(path: Path, database: str, target_path: str, target: str) -> None:
    from audiences.html_report import write_report
    from reverse_etl.core.errors import ReverseEtlError
    from reverse_etl.warehouse import connect

    if target == "duckdb" and not Path(database).exists():
        raise ReportError(f"DuckDB file {database} not found (set AUDIENCES_DUCKDB_PATH).")
    try:
        wh = connect(target, path=database) if target == "duckdb" else connect(target)
        try:
            sections = write_report(wh, path, Path(target_path) / "manifest.json")
        finally:
            wh.close()
    except ReverseEtlError as exc:
        raise ReportError(str(exc)) from None
    missing = [s.title for s in sections if s.missing]
    click.echo(f"HTML report written to {path.resolve()}")
    if missing:
        click.echo(f"not built yet: {'; '.join(missing)}")


if __name__ == "__main__":  # pragma: no cover
    report(prog_name=os.path.basename(__file__))
