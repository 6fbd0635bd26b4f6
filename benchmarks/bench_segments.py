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

from build_compare import compare_builds, parser, report

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
    args = parser(__doc__).parse_args()
    run = compare_builds(args, "segments", FOUNDATION)
    foundation, everything = run.baseline, run.everything
    figures = (
        f"{args.events:,} events{run.generated_note()}"
        f": foundation `dbt build` {foundation.seconds:.1f} s,"
        f" peak {foundation.peak_rss_mb:,.0f} MB;"
        f" everything incl. all segments and audiences {everything.seconds:.1f} s,"
        f" peak {everything.peak_rss_mb:,.0f} MB; segments add {run.added:+.0%}"
        f" ({'within' if run.added < 0.5 else 'ABOVE'} the 50 % target)"
    )
    report(args, f"python benchmarks/bench_segments.py --events {args.events}", figures)


if __name__ == "__main__":
    main()
