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

from build_compare import compare_builds, parser, report

TARGET = 0.20
WITHOUT_MEASUREMENT = ["--exclude", "path:models/marts/measurement"]


def main() -> None:
    args = parser(__doc__).parse_args()
    run = compare_builds(args, "measurement", WITHOUT_MEASUREMENT)
    without, everything = run.baseline, run.everything
    figures = (
        f"{args.events:,} events{run.generated_note()}"
        f": full `dbt build` without the measurement marts {without.seconds:.1f} s,"
        f" peak {without.peak_rss_mb:,.0f} MB;"
        f" with them {everything.seconds:.1f} s, peak {everything.peak_rss_mb:,.0f} MB;"
        f" measurement marts add {run.added:+.0%}"
        f" ({'within' if run.added < TARGET else 'ABOVE'} the {TARGET:.0%} target)"
    )
    report(args, f"python benchmarks/bench_measurement.py --events {args.events}", figures)


if __name__ == "__main__":
    main()
