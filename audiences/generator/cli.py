"""`audiences generate`: write realistic demo data into the raw schema of a DuckDB file."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import click

from audiences.generator.config import AppendError, GenerationConfig, GenerationSummary
from audiences.generator.playbooks import playbook_counts
from audiences.generator.profile import BANDS, profile, within_band
from audiences.generator.runner import generate as run_generate


def _parse_as_of(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime:
    if value is None:
        raise click.BadParameter("required, e.g. --as-of 2026-11-20T00:00:00", ctx, param)
    try:
        ts = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise click.BadParameter(
            f"{value!r} is not an ISO timestamp (e.g. 2026-11-20 or 2026-11-20T08:30:00Z)",
            ctx,
            param,
        ) from exc
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC).replace(tzinfo=None)
    return ts


@click.command(name="generate")
@click.option(
    "--events",
    "-n",
    type=int,
    required=True,
    help="Target number of rows written to raw.events by this call (±2 %). "
    "The population (devices, people, orders, CRM, email) scales with it.",
)
@click.option(
    "--seed",
    type=int,
    default=42,
    show_default=True,
    help="Random seed; same arguments give identical tables.",
)
@click.option(
    "--as-of",
    "as_of",
    callback=_parse_as_of,
    required=True,
    help="Reference instant (ISO 8601; UTC if no offset). Nothing occurs after it.",
)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=90,
    show_default=True,
    help="Days of click-stream history before --as-of (orders go back two years).",
)
@click.option(
    "--append",
    is_flag=True,
    help="Add a later slice to existing data instead of replacing it: events from the previous "
    "latest event up to --as-of (which must be later than all existing data), all loaded after "
    "the previous latest loaded_at, including late events of the earlier period and "
    "returning devices.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=lambda: os.environ.get("AUDIENCES_DUCKDB_PATH", "audiences.duckdb"),
    show_default="$AUDIENCES_DUCKDB_PATH or audiences.duckdb",
    help="DuckDB file to write.",
)
@click.option(
    "--schema", default="raw", show_default=True, help="Target schema (created if missing)."
)
@click.option(
    "--profile",
    "show_profile",
    is_flag=True,
    help="Also print realism measures against the calibration bands.",
)
def generate(
    events: int,
    seed: int,
    as_of: datetime,
    days: int,
    append: bool,
    db_path: Path,
    schema: str,
    show_profile: bool,
) -> None:
    """Generate deterministic demo data into the raw tables of a DuckDB file.

    Writes raw.events, raw.orders, raw.order_items, raw.customers and raw.email_events
    (see docs/contracts/foundation-models.md) for a population of window shoppers,
    high-intent shoppers, cart abandoners, loyal and lapsed buyers, content readers and
    one-visit bounces, with duplicates, late events, identity stitching, shared devices,
    consent and erasure requests. Tables are written atomically.

    \b
    Examples:
      audiences generate --events 1000000 --seed 7 --as-of 2026-11-20 --profile
      audiences generate --events 50000 --seed 7 --as-of 2026-11-21T12:00 --append
    """
    if events <= 0:
        raise click.BadParameter("must be a positive number of rows", param_hint="--events")
    config = GenerationConfig(
        db_path=db_path,
        events=events,
        seed=seed,
        as_of=as_of,
        append=append,
        days=days,
        schema=schema,
    )
    try:
        config.validate()
        summary = run_generate(config)
    except AppendError as exc:
        raise click.UsageError(str(exc)) from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    _print_summary(summary)
    if show_profile:
        print_profile(profile(db_path, schema))
        print_playbooks(playbook_counts(db_path, as_of, schema), as_of)


def _print_summary(summary: GenerationSummary) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    mode = "appended to" if summary.append else "written to"
    table = Table(
        title=f"Demo data {mode} {summary.db_path} "
        f"(schema {summary.schema}, as of {summary.as_of.isoformat()})"
    )
    table.add_column("table")
    table.add_column("rows written", justify="right")
    table.add_column("rows total", justify="right")
    for name, rows in summary.rows_written.items():
        table.add_row(name, f"{rows:,}", f"{summary.rows_total.get(name, 0):,}")
    console.print(table)
    console.print(f"{summary.elapsed_seconds:.1f} s, {summary.events_per_second:,.0f} events/s")


def print_profile(measures: dict[str, float | None]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Realism profile (docs/generator-calibration.md)")
    table.add_column("measure", no_wrap=True, min_width=34)
    table.add_column("generated", justify="right")
    table.add_column("reference")
    table.add_column("band")
    table.add_column("ok")
    for name, value in measures.items():
        ref, lo, hi = BANDS.get(name, ("", None, None))
        shown = "-" if value is None else (f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}")
        band = "" if name not in BANDS else f"{lo:g} - {hi:g}"
        ok = within_band(name, value)
        table.add_row(name, shown, ref, band, "" if ok is None else ("yes" if ok else "NO"))
    Console().print(table)


def print_playbooks(counts: dict[str, int], as_of: datetime) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Playbook behaviours at {as_of.isoformat()} (devices)")
    table.add_column("behaviour (audiences.generator.playbooks)", no_wrap=True)
    table.add_column("devices", justify="right")
    for name, value in counts.items():
        table.add_row(name, f"{value:,}")
    Console().print(table)
