"""Benchmark: full dbt build, and an incremental run after appending 1 % new events.

Usage (from the project root, after `make setup`):

    .venv/bin/python benchmarks/bench_build.py --events 1000000 [--record]
    .venv/bin/python benchmarks/bench_build.py --events 10000000 --select foundation --record

Steps, each timed as its own process (wall seconds and peak RSS of that process):
  1. `audiences generate --events N` into a fresh DuckDB file under benchmarks/.work/
  2. `dbt build` (models + data tests + unit tests) with as_of pinned
  3. dbt's fixed cost on this project: a `dbt run` that selects nothing (start-up, parse,
     connection, hooks), then `dbt run` of the same selection again on unchanged data
     (incremental no-op), reported as a ratio of the fixed cost
  4. `audiences generate --append --events N/100` (or --append-events) one day later
  5. `dbt run` incremental on the appended events, reported as a ratio of a full `dbt run`
     (step 6: `dbt run --full-refresh` on the same final data). A `dbt run` that selects
     nothing runs first with the new vars, so that the incremental run, like the full one,
     finds dbt's partial parse ready (a changed var makes dbt parse the project again).
--record appends one row to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from build_compare import duckdb_env
from process_measure import append_result, measure, result_row

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work"
SELECTIONS = {
    "foundation": [
        "--select",
        "+fct_sessions",
        "+fct_page_views",
        "+fct_orders",
        "--indirect-selection",
        "cautious",
    ],
    "all": [],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-11-24T00:00:00")
    parser.add_argument("--append-as-of", default="2026-11-25T00:00:00")
    parser.add_argument(
        "--append-events", type=int, default=0, help="events to append (default: 1 %% of --events)"
    )
    parser.add_argument("--select", choices=sorted(SELECTIONS), default="all")
    parser.add_argument("--record", action="store_true", help="append a row to RESULTS.md")
    parser.add_argument("--note", default="", help="free text added to the recorded row")
    args = parser.parse_args()

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    db = WORK_DIR / f"bench-{args.events}.duckdb"
    db.unlink(missing_ok=True)
    env = duckdb_env(db)
    audiences, dbt = str(BIN / "audiences"), str(BIN / "dbt")
    target = ["--target-path", str(WORK_DIR / "target")]
    selection = SELECTIONS[args.select]
    vars_as_of = ["--vars", f"{{as_of: '{args.as_of}'}}"]
    vars_append = ["--vars", f"{{as_of: '{args.append_as_of}'}}"]

    generated = measure(
        [
            audiences,
            "generate",
            "--events",
            str(args.events),
            "--seed",
            str(args.seed),
            "--as-of",
            args.as_of,
        ],
        env,
    )
    build = measure([dbt, "build", *vars_as_of, *selection, *target, "--quiet"], env)
    nothing = ["--select", "tag:__selects_nothing__"]
    fixed = measure([dbt, "run", *vars_as_of, *nothing, *target, "--quiet"], env)
    noop = measure([dbt, "run", *vars_as_of, *selection, *target, "--quiet"], env)
    appended_events = args.append_events or max(1, args.events // 100)
    measure(
        [
            audiences,
            "generate",
            "--append",
            "--events",
            str(appended_events),
            "--seed",
            str(args.seed + 1),
            "--as-of",
            args.append_as_of,
        ],
        env,
    )
    measure([dbt, "run", *vars_append, *nothing, *target, "--quiet"], env)
    incremental = measure([dbt, "run", *vars_append, *selection, *target, "--quiet"], env)
    full_run = measure(
        [dbt, "run", *vars_append, *selection, *target, "--full-refresh", "--quiet"], env
    )

    ratio = incremental.seconds / full_run.seconds
    figures = (
        f"{args.events:,} events, selection `{args.select}`: generate {generated.seconds:.1f} s; "
        f"full `dbt build` {build.seconds:.1f} s, peak {build.peak_rss_mb:,.0f} MB; "
        f"`dbt run` selecting nothing (fixed cost) {fixed.seconds:.1f} s; "
        f"unchanged `dbt run` {noop.seconds:.1f} s = {noop.seconds / fixed.seconds:.2f}x the "
        f"fixed cost; "
        f"+{appended_events / args.events:.0%} ({appended_events:,} events) incremental "
        f"`dbt run` {incremental.seconds:.1f} s (peak {incremental.peak_rss_mb:,.0f} MB) "
        f"vs full-refresh `dbt run` {full_run.seconds:.1f} s = {ratio:.0%}"
        + (f"; {args.note}" if args.note else "")
    )
    command = f"python benchmarks/bench_build.py --events {args.events} --select {args.select}"
    if args.append_events:
        command += f" --append-events {args.append_events}"
    row = result_row(command, figures)
    print(row)
    if args.record:
        append_result(row)


if __name__ == "__main__":
    main()
