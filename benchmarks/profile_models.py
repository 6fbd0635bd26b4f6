"""Profile: DuckDB EXPLAIN ANALYZE of the compiled SQL of the session models, operator by operator.

Usage (from the project root, after a `dbt run` or `dbt compile` of the models on the file):

    .venv/bin/python benchmarks/profile_models.py DB --target-path target [--top 12]

For each model it reads the compiled select (target/compiled/...: the full-refresh form of an
incremental model when compiled before the table existed), runs it as
`create temp table ... as <select>` with DuckDB's JSON profiler on, and prints the wall time
and the most expensive operators (own time, rows out, and the window or join they compute), so
that the time can be attributed: window sorts, hash joins, aggregations, scans.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import duckdb

MODELS = (
    "models/intermediate/tracker/int_tracker__sessionized_events.sql",
    "models/intermediate/tracker/int_tracker__page_views.sql",
    "models/intermediate/tracker/int_tracker__sessions.sql",
)


def _operators(node: dict, depth: int = 0) -> list[tuple[float, int, int, str, str]]:
    """(own seconds, rows out, depth, operator name, detail) of every operator of a profile."""
    extra = node.get("extra_info") or {}
    detail = ""
    if isinstance(extra, dict):
        detail = " ".join(
            str(extra[key])
            for key in ("Join Type", "Conditions", "Groups", "Aggregates", "Projections")
            if key in extra
        )
    name = node.get("name") or node.get("operator_name") or "query"
    found = [
        (
            float(node.get("timing", node.get("operator_timing", 0.0)) or 0.0),
            int(node.get("intermediate_rows", node.get("operator_cardinality", 0)) or 0),
            depth,
            str(name).strip(),
            " ".join(detail.split())[:110],
        )
    ]
    for child in [*node.get("operator", []), *node.get("children", [])]:
        found.extend(_operators(child, depth + 1))
    return found


def profile(con: duckdb.DuckDBPyConnection, name: str, sql: str, top: int) -> None:
    with tempfile.NamedTemporaryFile(suffix=".json") as output:
        con.execute("pragma enable_profiling = 'json'")
        con.execute(f"pragma profiling_output = '{output.name}'")
        started = time.perf_counter()
        con.execute(f"create or replace temp table profiled as {sql}")
        seconds = time.perf_counter() - started
        con.execute("pragma disable_profiling")
        tree = json.loads(Path(output.name).read_text())
    rows = con.execute("select count(*) from profiled").fetchone()[0]
    operators = sorted(_operators(tree), reverse=True)
    total = sum(op[0] for op in operators)
    print(f"\n## {name}: {seconds:.1f} s wall, {rows:,} rows, operators {total:.1f} s (CPU)")
    for own, out_rows, _, operator, detail in operators[:top]:
        print(f"  {own:7.2f} s {out_rows:>12,} rows  {operator:<22} {detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--target-path", default="target")
    parser.add_argument("--top", type=int, default=12)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--model", action="append", help="a path under models/ (default: all)")
    args = parser.parse_args()
    # the settings of the duckdb target in profiles.yml
    con = duckdb.connect(
        args.db,
        read_only=True,
        config={"memory_limit": args.memory_limit, "preserve_insertion_order": False},
    )
    for model in args.model or MODELS:
        compiled = Path(args.target_path) / "compiled" / "audiences" / model
        profile(con, Path(model).stem, compiled.read_text(), args.top)


if __name__ == "__main__":
    main()
