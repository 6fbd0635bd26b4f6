"""Benchmark: what the measurement marts (models/marts/measurement: segment_lift,
segment_kpis, campaign_attribution, segment_size_history, segment_overlaps) add to the full
build.

Usage (from the project root, after `make setup`):

    .venv/bin/python benchmarks/bench_measurement.py --events 10000000 [--record]

Steps, each timed as its own process (wall seconds and peak RSS of that process):
  1. `audiences generate --events N` into a fresh DuckDB file under benchmarks/.work/
     (skipped with --reuse when the file exists)
  2. without: `dbt build --full-refresh` of the whole project except the measurement marts
     (and their tests)
  3. everything: `dbt build --full-refresh` of the whole project
The measurement marts' cost is (everything - without) / without; the target (issue 16) is
< 20 %. --record appends one row to benchmarks/RESULTS.md.
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
TARGET = 0.20
WITHOUT_MEASUREMENT = ["--exclude", "path:models/marts/measurement"]


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
    db = WORK_DIR / f"measurement-{args.events}.duckdb"
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
        str(WORK_DIR / "target-measurement"),
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
    without = measure([dbt, "build", *WITHOUT_MEASUREMENT, *common], env)
    everything = measure([dbt, "build", *common], env)

    added = (everything.seconds - without.seconds) / without.seconds
    figures = (
        f"{args.events:,} events"
        + (f" (generated in {generated.seconds:.0f} s)" if generated else "")
        + f": full `dbt build` without the measurement marts {without.seconds:.1f} s,"
        f" peak {without.peak_rss_mb:,.0f} MB;"
        f" with them {everything.seconds:.1f} s, peak {everything.peak_rss_mb:,.0f} MB;"
        f" measurement marts add {added:+.0%}"
        f" ({'within' if added < TARGET else 'ABOVE'} the {TARGET:.0%} target)"
        + (f"; {args.note}" if args.note else "")
    )
    command = f"python benchmarks/bench_measurement.py --events {args.events}"
    row = result_row(command, figures)
    print(row)
    if args.record:
        append_result(row)


if __name__ == "__main__":
    main()
