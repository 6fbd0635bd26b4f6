"""Benchmark (issue 14): the session models and the whole build against the floor query.

Usage (from the project root, after `make setup`):

    .venv/bin/python benchmarks/bench_sessions.py --events 5000000 [--record] [--note TEXT]
    .venv/bin/python benchmarks/bench_sessions.py --events 10000000 --incremental --record

Steps, each timed as its own process (wall seconds and peak RSS of that process), on a fresh
DuckDB file under benchmarks/.work/ generated with `--seed 5 --as-of 2026-06-30T00:00:00`:
  1. the floor: benchmarks/floor_query.py on the raw events (the yardstick, same run)
  2. `dbt seed`, then the upstream of the session models (staging views, identity, erasure)
  3. the session models alone (int_tracker__sessionized_events, int_tracker__page_views,
     int_tracker__sessions, fct_page_views, fct_sessions) with --full-refresh; per-model
     execution seconds from run_results.json
  4. the whole build without tests: `dbt build --exclude-resource-type test
     --exclude-resource-type unit_test --full-refresh`, peak RSS, and whether DuckDB spilled
     (its temp directory next to the file appeared during the run)
With --incremental, also:
  5. an unchanged `dbt run` against a `dbt run` that selects nothing (dbt's fixed cost)
  6. `audiences generate --append` of 1 % more events one day later, the incremental
     `dbt run`, and a `dbt run --full-refresh` on the same final data
--record appends one row to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path

from build_compare import duckdb_env
from process_measure import Measurement, append_result, measure, result_row

PROJECT_DIR = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work"
SESSION_MODELS = [
    "int_tracker__sessionized_events",
    "int_tracker__page_views",
    "int_tracker__sessions",
    "fct_page_views",
    "fct_sessions",
]
NO_TESTS = ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]


class SpillWatch:
    """Polls DuckDB's temp directory (`<file>.tmp`) during a run: did anything spill?"""

    def __init__(self, db: Path):
        self.directory = db.with_name(db.name + ".tmp")
        self.peak_mb = 0.0
        self.seen = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.directory.is_dir():
                size = sum(f.stat().st_size for f in self.directory.glob("*") if f.is_file())
                self.seen = self.seen or size > 0
                self.peak_mb = max(self.peak_mb, size / 2**20)
            self._stop.wait(0.5)

    def stop(self) -> str:
        self._stop.set()
        self._thread.join()
        return f"spilled {self.peak_mb:,.0f} MB" if self.seen else "no spill"


def _model_seconds(target: Path) -> dict[str, float]:
    results = json.loads((target / "run_results.json").read_text())["results"]
    return {r["unique_id"].split(".")[-1]: r["execution_time"] for r in results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--as-of", default="2026-06-30T00:00:00")
    parser.add_argument("--append-as-of", default="2026-07-01T00:00:00")
    parser.add_argument("--incremental", action="store_true", help="steps 5 and 6 as well")
    parser.add_argument("--record", action="store_true", help="append a row to RESULTS.md")
    parser.add_argument("--note", default="", help="free text added to the recorded row")
    args = parser.parse_args()

    WORK_DIR.mkdir(parents=True, exist_ok=True)
    db = WORK_DIR / f"sessions-{args.events}.duckdb"
    db.unlink(missing_ok=True)
    env = duckdb_env(db)
    audiences, dbt, python = str(BIN / "audiences"), str(BIN / "dbt"), sys.executable
    target_dir = WORK_DIR / "target-sessions"
    target = ["--target-path", str(target_dir)]
    vars_as_of = ["--vars", f"{{as_of: '{args.as_of}'}}"]
    vars_append = ["--vars", f"{{as_of: '{args.append_as_of}'}}"]
    generate = [audiences, "generate", "--seed", str(args.seed)]

    measure([*generate, "--events", str(args.events), "--as-of", args.as_of], env)
    floor = measure([python, str(PROJECT_DIR / "benchmarks" / "floor_query.py"), str(db)], env)
    measure([dbt, "seed", *vars_as_of, *target, "--quiet"], env)
    upstream = ["--select", "+int_identity__device_users", "+stg_tracker__events"]
    measure([dbt, "run", *vars_as_of, *upstream, *target, "--quiet"], env)
    sessions = measure(
        [dbt, "run", *vars_as_of, "--select", *SESSION_MODELS, "--full-refresh", *target, "-q"],
        env,
    )
    per_model = _model_seconds(target_dir)
    spill = SpillWatch(db)
    build = measure([dbt, "build", *vars_as_of, *NO_TESTS, "--full-refresh", *target, "-q"], env)
    spilled = spill.stop()

    def ratio(m: Measurement) -> str:
        return f"{m.seconds / floor.seconds:.1f}x floor"

    models = ", ".join(f"{name} {per_model.get(name, 0):.1f} s" for name in SESSION_MODELS[:3])
    figures = (
        f"{args.events:,} events (seed {args.seed}): floor {floor.seconds:.1f} s "
        f"(peak {floor.peak_rss_mb:,.0f} MB); session models `dbt run --full-refresh` "
        f"{sessions.seconds:.1f} s = {ratio(sessions)} ({models}); whole build without tests "
        f"{build.seconds:.1f} s = {ratio(build)}, peak {build.peak_rss_mb:,.0f} MB, {spilled}"
    )
    if args.incremental:
        nothing = measure(
            [dbt, "run", *vars_as_of, "--select", "tag:selects_nothing", *target, "-q"], env
        )
        unchanged = measure([dbt, "run", *vars_as_of, *target, "-q"], env)
        appended = max(1, args.events // 100)
        measure(
            [
                *generate[:2],
                "--append",
                "--events",
                str(appended),
                "--seed",
                str(args.seed + 1),
                "--as-of",
                args.append_as_of,
            ],
            env,
        )
        incremental = measure([dbt, "run", *vars_append, *target, "-q"], env)
        full = measure([dbt, "run", *vars_append, "--full-refresh", *target, "-q"], env)
        figures += (
            f"; unchanged `dbt run` {unchanged.seconds:.1f} s vs empty `dbt run` "
            f"{nothing.seconds:.1f} s = {unchanged.seconds / nothing.seconds:.2f}x; +1 % "
            f"({appended:,} events) incremental `dbt run` {incremental.seconds:.1f} s vs "
            f"`dbt run --full-refresh` {full.seconds:.1f} s "
            f"= {incremental.seconds / full.seconds:.0%}"
        )
    if args.note:
        figures += f"; {args.note}"
    command = f"python benchmarks/bench_sessions.py --events {args.events}" + (
        " --incremental" if args.incremental else ""
    )
    row = result_row(command, figures)
    print(row)
    if args.record:
        append_result(row)


if __name__ == "__main__":
    main()
