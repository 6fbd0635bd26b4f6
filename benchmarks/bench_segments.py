"""Benchmark: what the segment layer adds to the foundation's full build.

Usage (from the project root, after `make setup`):

    .venv/bin/python benchmarks/bench_segments.py --events 10000000 [--record]

Steps, each timed as its own process (wall seconds and peak RSS of that process):
  1. `audiences generate --events N` into a fresh DuckDB file under benchmarks/.work/
     (skipped with --reuse when the file exists)
  2. foundation: `dbt build --full-refresh` of the foundation (+fct_sessions, +fct_page_views,
     +fct_orders: staging, identity, sessions, page views, orders, with their tests)
  3. everything: `dbt build --full-refresh` of the whole project (foundation + dim_users, every
     segment family, memberships, snapshot, audiences, all data and unit tests)
The segment layer's cost is (everything - foundation) / foundation; the target is < 50 %.
--record appends one row to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from process_measure import append_result, measure, result_row

PROJECT_DIR = Path(os.environ.get("AUDIENCES_PROJECT_DIR", Path(__file__).resolve().parents[1]))
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work"
FOUNDATION = [
    "--select",
    "+fct_sessions",
    "+fct_page_views",
    "+fct_orders",
    # tests that also read segment models must not run in the foundation-only build
    "--indirect-selection",
    "cautious",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-11-24T00:00:00")
    parser.add_argument("--reuse", action="store_true", help="reuse generated data if present")
    parser.add_argument("--record", action="store_true", help="append a row to the results")
    parser.add_argument("--note", default="", help="free text added to the recorded row")
    args = parser.parse_args()

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    db = WORK_DIR / f"segments-{args.events}.duckdb"
    env = {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
    }
    dbt = str(BIN / "dbt")
    common = [
        "--full-refresh",
        "--target-path",
        str(WORK_DIR / "target-segments"),
        "--vars",
        f"{{as_of: '{args.as_of}'}}",
        "--quiet",
    ]

    generated = None
    if not (args.reuse and db.exists()):
        db.unlink(missing_ok=True)
        generated = measure(
            [
                str(BIN / "audiences"),
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
    foundation = measure([dbt, "build", *FOUNDATION, *common], env)
    everything = measure([dbt, "build", *common], env)

    added = (everything.seconds - foundation.seconds) / foundation.seconds
    figures = (
        f"{args.events:,} events"
        + (f" (generated in {generated.seconds:.0f} s)" if generated else "")
        + f": foundation `dbt build` {foundation.seconds:.1f} s,"
        f" peak {foundation.peak_rss_mb:,.0f} MB;"
        f" everything incl. all segments and audiences {everything.seconds:.1f} s,"
        f" peak {everything.peak_rss_mb:,.0f} MB; segments add {added:+.0%}"
        f" ({'within' if added < 0.5 else 'ABOVE'} the 50 % target)"
        + (f"; {args.note}" if args.note else "")
    )
    command = f"python benchmarks/bench_segments.py --events {args.events}"
    row = result_row(command, figures)
    print(row)
    if args.record:
        append_result(row)


if __name__ == "__main__":
    main()
