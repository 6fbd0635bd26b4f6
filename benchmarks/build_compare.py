"""What a part of the project adds to the full `dbt build`: the steps the benchmarks of a
layer share (bench_segments.py, bench_measurement.py).

1. `audiences generate --events N` into a fresh DuckDB file under benchmarks/.work/
   (skipped with --reuse when the file exists);
2. baseline: `dbt build --full-refresh` with the baseline's selection arguments;
3. everything: `dbt build --full-refresh` of the whole project;
each timed as its own process (wall seconds and peak RSS of that process).
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from process_measure import Measurement, append_result, measure, result_row

PROJECT_DIR = Path(os.environ.get("AUDIENCES_PROJECT_DIR", Path(__file__).resolve().parents[1]))
BIN = Path(sys.executable).parent
WORK_DIR = PROJECT_DIR / "benchmarks" / ".work"


def duckdb_env(db: Path) -> dict[str, str]:
    """The environment of the project's commands on the benchmark's own DuckDB file."""
    return {
        **os.environ,
        "AUDIENCES_DUCKDB_PATH": str(db),
        "AUDIENCES_TARGET": "duckdb",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_PROFILES_DIR": str(PROJECT_DIR),
    }


def parser(doc: str) -> argparse.ArgumentParser:
    """The options every layer benchmark takes."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--events", type=int, default=10_000_000)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--as-of", default="2026-11-24T00:00:00")
    p.add_argument("--reuse", action="store_true", help="reuse generated data if present")
    p.add_argument("--record", action="store_true", help="append a row to the results")
    p.add_argument("--note", default="", help="free text added to the recorded row")
    return p


@dataclass(frozen=True)
class BuildComparison:
    generated: Measurement | None
    baseline: Measurement
    everything: Measurement

    @property
    def added(self) -> float:
        """What the rest adds to the baseline, as a share of the baseline."""
        return (self.everything.seconds - self.baseline.seconds) / self.baseline.seconds

    def generated_note(self) -> str:
        return f" (generated in {self.generated.seconds:.0f} s)" if self.generated else ""


def compare_builds(args: argparse.Namespace, name: str, baseline: list[str]) -> BuildComparison:
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    db = WORK_DIR / f"{name}-{args.events}.duckdb"
    env = duckdb_env(db)
    dbt = str(BIN / "dbt")
    common = [
        "--full-refresh",
        "--target-path",
        str(WORK_DIR / f"target-{name}"),
        "--vars",
        f"{{as_of: '{args.as_of}'}}",
        "--quiet",
    ]
    generated = None
    if not (args.reuse and db.exists()):
        db.unlink(missing_ok=True)
        generate = [str(BIN / "audiences"), "generate", "--events", str(args.events)]
        generate += ["--seed", str(args.seed), "--as-of", args.as_of]
        generated = measure(generate, env)
    return BuildComparison(
        generated,
        measure([dbt, "build", *baseline, *common], env),
        measure([dbt, "build", *common], env),
    )


def report(args: argparse.Namespace, command: str, figures: str) -> None:
    """Print the results row; with --record, append it to benchmarks/RESULTS.md."""
    row = result_row(command, figures + (f"; {args.note}" if args.note else ""))
    print(row)
    if args.record:
        append_result(row)
