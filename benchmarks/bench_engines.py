"""Benchmark: the full dbt build on DuckDB, PostgreSQL and Spark, side by side in one run.

Usage (from the project root, after `make setup`, `make postgres-up` and
`pip install 'dbt-spark[session]~=1.11.0'`; or simply `make bench-engines`):

    .venv/bin/python benchmarks/bench_engines.py --events 1000000 [--note "..."]

One data set is generated (`audiences generate --events N --seed S --as-of T`) into a
DuckDB file under benchmarks/.work/, then for each engine, each step its own timed process:
  - DuckDB:     `dbt build` on a copy of that file;
  - PostgreSQL: `audiences load-postgres` into a database of its own (audiences_bench,
                recreated), then `dbt build --target postgres`;
  - Spark:      `audiences load-spark` into a fresh local metastore, then
                `dbt build --target spark` (local session, snapshots / Python models off).
Every `dbt build` builds all models and runs all data and unit tests with `as_of` pinned.
Figures: wall time, and peak resident memory of the process tree (the dbt process and its
children, which for Spark includes the JVM; sampled every 0.2 s from /proc). The PostgreSQL
server's own memory is not included. The row is appended to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from process_measure import Measurement, append_result, result_row

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work" / "engines"
ENGINES = ("duckdb", "postgres", "spark")
BENCH_DATABASE = "audiences_bench"


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as handle:
                found.extend(int(child) for child in handle.read().split())
    except OSError:
        pass
    return found


def _tree_rss_kb(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        try:
            with open(f"/proc/{pid}/status") as handle:
                for line in handle:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
        stack.extend(_children(pid))
    return total


def measure(command: list[str], env: dict[str, str], label: str) -> Measurement:
    """Runs a command; its wall time and the peak RSS of its process tree."""
    print(f"[{label}] {' '.join(command)}", flush=True)
    log = (WORK_DIR / f"{label}.log").open("w")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=PROJECT_DIR, env=env, stdout=log, stderr=log)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_kb(process.pid))
            done.wait(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    done.set()
    sampler.join()
    log.close()
    if os.waitstatus_to_exitcode(status) != 0:
        tail = (WORK_DIR / f"{label}.log").read_text()[-3000:]
        raise SystemExit(f"[{label}] failed after {elapsed:.0f} s:\n{tail}")
    peak_kb = max(peak[0], usage.ru_maxrss)
    result = Measurement(elapsed, peak_kb / 1024)
    print(f"[{label}] {result.seconds:.1f} s, peak RSS {result.peak_rss_mb:,.0f} MB", flush=True)
    return result


def _duration(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{seconds:.1f} s"


def _drop_and_create_database(name: str) -> None:
    import psycopg2
    from psycopg2 import sql

    from audiences.warehouse_copy import postgres_dsn_from_env

    con = psycopg2.connect(**postgres_dsn_from_env())
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        cur.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--as-of", default="2026-11-24T00:00:00")
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated subset")
    parser.add_argument("--note", default="", help="free text added to the recorded row")
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engine(s): {', '.join(sorted(unknown))}")

    shutil.rmtree(WORK_DIR, ignore_errors=True)
    WORK_DIR.mkdir(parents=True)
    raw_db = WORK_DIR / "source.duckdb"  # not raw.duckdb: the catalog would shadow schema raw
    base_env = {
        **os.environ,
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
        "AUDIENCES_DUCKDB_PATH": str(raw_db),
    }
    audiences, dbt = str(BIN / "audiences"), str(BIN / "dbt")
    dbt_vars = ["--vars", f"{{as_of: '{args.as_of}'}}"]
    load_average = os.getloadavg()[0]

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
        base_env,
        "generate",
    )
    figures: list[str] = []
    results: dict[str, dict[str, Measurement]] = {}

    if "duckdb" in engines:
        build_db = WORK_DIR / "warehouse.duckdb"
        shutil.copyfile(raw_db, build_db)
        env = {**base_env, "AUDIENCES_DUCKDB_PATH": str(build_db)}
        results["duckdb"] = {
            "build": measure(
                [
                    dbt,
                    "build",
                    "--target",
                    "duckdb",
                    *dbt_vars,
                    "--target-path",
                    str(WORK_DIR / "target-duckdb"),
                ],
                env,
                "duckdb-build",
            )
        }
    if "postgres" in engines:
        _drop_and_create_database(BENCH_DATABASE)
        env = {**base_env, "PGDATABASE": BENCH_DATABASE}
        results["postgres"] = {
            "load": measure([audiences, "load-postgres"], env, "postgres-load"),
            "build": measure(
                [
                    dbt,
                    "build",
                    "--target",
                    "postgres",
                    *dbt_vars,
                    "--target-path",
                    str(WORK_DIR / "target-postgres"),
                ],
                env,
                "postgres-build",
            ),
        }
    if "spark" in engines:
        env = {**base_env, "AUDIENCES_SPARK_DIR": str(WORK_DIR / "spark")}
        results["spark"] = {
            "load": measure([audiences, "load-spark"], env, "spark-load"),
            "build": measure(
                [
                    dbt,
                    "build",
                    "--target",
                    "spark",
                    *dbt_vars,
                    "--target-path",
                    str(WORK_DIR / "target-spark"),
                ],
                env,
                "spark-build",
            ),
        }

    names = {"duckdb": "DuckDB", "postgres": "PostgreSQL", "spark": "Spark (local session)"}
    for engine, steps in results.items():
        build = steps["build"]
        text = (
            f"{names[engine]}: `dbt build` {_duration(build.seconds)}, "
            f"peak {build.peak_rss_mb:,.0f} MB"
        )
        if "load" in steps:
            text += f" (+ raw load {_duration(steps['load'].seconds)})"
        figures.append(text)
    summary = (
        f"{args.events:,} events (generated in {generated.seconds:.1f} s), full `dbt build` "
        f"(all models, data and unit tests) per engine: "
        + "; ".join(figures)
        + f". Load average {load_average:.2f} at start"
        + (f"; {args.note}" if args.note else "")
    )
    command = (
        f"python benchmarks/bench_engines.py --events {args.events} --seed {args.seed} "
        f"--as-of {args.as_of}"
        + (f" --engines {args.engines}" if set(engines) != set(ENGINES) else "")
    )
    row = result_row(command, summary)
    print(row)
    if not args.no_record:
        append_result(row)


if __name__ == "__main__":
    main()
