"""Benchmark of the demo data generator (`audiences generate`).

Runs the generator once per size in a fresh subprocess, measures wall time and the peak
resident memory of that process, and prints one markdown row per size in the format of
benchmarks/RESULTS.md (| date | machine | command | figures |).

    python benchmarks/bench_generator.py --events 1000000 --events 10000000
    python benchmarks/bench_generator.py --events 1000000 --record --note "shared machine"
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from process_measure import append_result, result_row

ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-20T00:00:00"


def child(events: int, seed: int, db: str) -> None:
    """Runs inside the measured subprocess."""
    sys.path.insert(0, str(ROOT))
    from audiences.generator import GenerationConfig, generate

    started = time.perf_counter()
    summary = generate(
        GenerationConfig(
            db_path=Path(db),
            events=events,
            seed=seed,
            as_of=datetime.fromisoformat(AS_OF),
        )
    )
    wall = time.perf_counter() - started
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "wall": wall,
                "rows": summary.rows_written,
                "peak_mb": peak_kb / 1024,
                "file_mb": Path(db).stat().st_size / 1024**2,
            }
        )
    )


def measure(events: int, seed: int, workdir: Path) -> dict:
    db = workdir / f"bench_{events}.duckdb"
    if db.exists():
        db.unlink()
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--events", str(events), "--seed", str(seed),
         "--db", str(db)],
        check=True,
        capture_output=True,
        text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_wall"] = elapsed
    # cross-check: the largest child waited for so far (this run is the largest so far
    # when sizes are given in increasing order)
    result["children_peak_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    db.unlink(missing_ok=True)
    return result


def row(events: int, seed: int, result: dict, note: str) -> str:
    rows = result["rows"]
    figures = (
        f"{rows['events']:,} events in {result['wall']:.1f} s "
        f"({rows['events'] / result['wall']:,.0f} events/s; process incl. start-up "
        f"{result['process_wall']:.1f} s), peak RSS {result['peak_mb']:,.0f} MB, "
        f"DuckDB file {result['file_mb']:,.0f} MB; also {rows['orders']:,} orders, "
        f"{rows['order_items']:,} items, {rows['customers']:,} CRM rows, "
        f"{rows['email_events']:,} email events"
    )
    if note:
        figures += f". {note}"
    return result_row(
        f"audiences generate --events {events} --seed {seed} --as-of {AS_OF}", figures
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="sizes (repeatable)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--record", action="store_true", help="append rows to RESULTS.md")
    parser.add_argument("--note", default="", help="free text added to each row")
    parser.add_argument("--workdir", default=None, help="where the temporary DuckDB files go")
    args = parser.parse_args()
    sizes = args.events or [1_000_000, 10_000_000]
    if args.child:
        child(sizes[0], args.seed, args.db)
        return
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for events in sizes:
            result = measure(events, args.seed, Path(tmp))
            line = row(events, args.seed, result, args.note)
            print(line, flush=True)
            if args.record:
                append_result(line)


if __name__ == "__main__":
    main()
