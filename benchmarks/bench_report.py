"""Benchmark: `audiences report --html` at 1M people (target: under 5 s).

Usage (from the project root, after `make setup`):

    .venv/bin/python benchmarks/bench_report.py --people 1000000 [--record]

Builds a DuckDB file under benchmarks/.work/ holding tables shaped like the measurement marts'
contract (docs/report.md) for a warehouse of N people: both ad marts with one row per person
(their identifier coverage is counted in SQL), 52 weekly builds x 40 segments of size history
and KPIs, lift for 40 segments x 5 metrics x 3 destinations, every overlap pair, and 6 sync
runs with their metrics. Then times the command itself as its own process (wall seconds and
peak RSS), start-up included. --record appends one row to benchmarks/RESULTS.md (only on a
quiet machine).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import duckdb
from process_measure import append_result, measure, result_row

PROJECT_DIR = Path(os.environ.get("AUDIENCES_PROJECT_DIR", Path(__file__).resolve().parents[1]))
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work"
SEGMENTS = 40
WEEKS = 52
METRICS = (
    "conversion_rate",
    "revenue_per_member",
    "orders_per_member",
    "sessions_per_member",
    "email_click_rate",
)


def build(db: Path, people: int) -> None:
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    m = "main_measurement"
    con.execute(f"CREATE SCHEMA {m}")
    con.execute("CREATE SCHEMA main_audiences")
    for mart in ("aud_meta_custom_audience", "aud_google_customer_match"):
        con.execute(
            f"CREATE TABLE main_audiences.{mart} AS SELECT 'u' || i AS user_id, "
            "'seg_' || (i % 40) AS segment_key, "
            "CASE WHEN i % 10 <> 0 THEN 'p' || i || '@example.com' END AS email, "
            "CASE WHEN i % 3 = 0 THEN '+4915112' || lpad(CAST(i % 1000000 AS VARCHAR), 6, '0') "
            "END AS phone, 'Ana' AS first_name, 'Lopez' AS last_name, "
            "CASE WHEN i % 4 <> 0 THEN '10115' END AS postal_code, 'DE' AS country "
            f"FROM range({people}) t(i)"
        )
    con.execute(
        f"CREATE TABLE {m}.segment_size_history AS SELECT "
        "TIMESTAMP '2025-12-01' + INTERVAL 7 DAY * w AS built_at, 'seg_' || s AS segment_key, "
        f"CAST({people} / 40 / (s + 1) + w * 10 AS BIGINT) AS members, "
        "CAST(50 + w AS BIGINT) AS entries, CAST(40 + s AS BIGINT) AS exits "
        f"FROM range({WEEKS}) a(w), range({SEGMENTS}) b(s)"
    )
    con.execute(
        f"CREATE TABLE {m}.segment_kpis AS SELECT 'seg_' || s AS segment_key, "
        "DATE '2025-12-01' + INTERVAL 7 DAY * w AS period_start, "
        f"CAST({people} / 40 / (s + 1) AS BIGINT) AS members, "
        "0.02 + s / 1000.0 AS conversion_rate, 50.0 + w AS average_order_value, "
        "0.2 AS repeat_rate, 0.4 - w / 1000.0 AS engagement_rate, 150.0 + s AS clv_estimate "
        f"FROM range({WEEKS}) a(w), range({SEGMENTS}) b(s)"
    )
    metrics = ", ".join(f"('{x}')" for x in METRICS)
    con.execute(
        f"CREATE TABLE {m}.segment_lift AS SELECT 'seg_' || s AS segment_key, d AS destination, "
        "14 AS window_days, metric, CAST(9000 AS BIGINT) AS treated_members, "
        "CAST(1000 AS BIGINT) AS holdout_members, 0.05 AS treated_value, "
        "0.04 AS holdout_value, 0.01 AS absolute_lift, 0.25 AS relative_lift, 0.002 AS ci_low, "
        "0.018 AS ci_high, 0.01 AS p_value, s % 7 = 0 AS is_too_small_to_tell "
        f"FROM range({SEGMENTS}) a(s), (VALUES ('all'), ('meta_a'), ('google_a')) b(d), "
        f"(VALUES {metrics}) c(metric)"
    )
    con.execute(
        f"CREATE TABLE {m}.segment_overlaps AS SELECT 'seg_' || a AS segment_key_a, "
        "'seg_' || b AS segment_key_b, CAST(1000 AS BIGINT) AS members_a, "
        "CAST(2000 AS BIGINT) AS members_b, CAST(100 AS BIGINT) AS members_both, "
        f"100.0 / 2900 AS jaccard FROM range({SEGMENTS}) x(a), range({SEGMENTS}) y(b) "
        "WHERE 'seg_' || a < 'seg_' || b"
    )
    con.close()
    sys.path.insert(0, str(PROJECT_DIR))
    from reverse_etl.state import StateStore
    from reverse_etl.warehouse.duckdb import DuckDBWarehouse

    wh = DuckDBWarehouse(str(db))
    st = StateStore(wh)
    st.ensure()
    for i, dest in enumerate(("meta", "google_data_manager", "meta", "braze", "hubspot", "meta")):
        run_id = st.start_run(f"sync_{i}", dest, "mirror")
        st.record_metrics(
            run_id, f"sync_{i}", {"audience_size": people // 40, "dropped_phone": 9 + i}
        )
        st.finish_run(run_id, "success", counts={"added": people // 40})
    wh.close()


def in_process(db: Path, out: Path) -> float:
    """Seconds of :func:`audiences.html_report.write_report` alone (plotly imported first)."""
    import time

    import plotly.graph_objects  # noqa: F401  (import cost belongs to the start-up)

    from audiences.html_report import write_report
    from reverse_etl.warehouse.duckdb import DuckDBWarehouse

    wh = DuckDBWarehouse(str(db))
    try:
        started = time.perf_counter()
        write_report(wh, out, None)
        return time.perf_counter() - started
    finally:
        wh.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1_000_000)
    parser.add_argument("--record", action="store_true", help="append a row to the results")
    parser.add_argument("--note", default="", help="free text added to the recorded row")
    args = parser.parse_args()
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    db = WORK_DIR / f"report_{args.people}.duckdb"
    out = WORK_DIR / f"report_{args.people}.html"
    build(db, args.people)
    env = {**os.environ, "AUDIENCES_DUCKDB_PATH": str(db)}
    run = measure(
        [str(BIN / "audiences"), "report", "--target-path", str(WORK_DIR), "--html", str(out)], env
    )
    size_mb = out.stat().st_size / 1e6
    inner = in_process(db, WORK_DIR / f"report_{args.people}_inner.html")
    verdict = "within" if inner < 5 else "ABOVE"
    figures = (
        f"{args.people:,} people: the report itself (read the marts, build the charts, write "
        f"the file) {inner:.2f} s ({verdict} the 5 s target); the whole `audiences report "
        f"--html` process {run.seconds:.2f} s incl. the CLI's start-up, peak RSS "
        f"{run.peak_rss_mb:,.0f} MB, file {size_mb:.1f} MB"
    )
    if args.note:
        figures += f"; {args.note}"
    command = f"python benchmarks/bench_report.py --people {args.people}"
    row = result_row(command, figures)
    print(row)
    if args.record:
        append_result(row)


if __name__ == "__main__":
    main()
