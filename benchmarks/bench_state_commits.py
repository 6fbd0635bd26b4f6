"""The sync engine's per-batch state writes alone, as a first Meta sync makes them: for each
batch of 10,000 members, the write-ahead record (the batch's records as JSON) and the
commit (state upsert of the acknowledged rows, each with its hashed row as ``dest_id``, the
write-ahead record cleared, the run counters), through :class:`reverse_etl.state.StateStore`
on a DuckDB file with the sync's settings (memory cap, checkpoint threshold).

    python benchmarks/bench_state_commits.py --rows 300000
    python benchmarks/bench_state_commits.py --rows 300000 --plain-dest-id --upsert  # as before

Prints the process's CPU time (user + system, every thread: DuckDB checkpoints on its own
threads too) and wall time of the write-aheads and of the commits, and the file's size.
CPU time is the figure to compare on a shared machine: it does not count the time spent
waiting for a core. The two changes of decision 0018's third round can be undone for a
comparison: ``--plain-dest-id`` creates the state tables with the ``dest_id`` columns as they
were before (compressed by DuckDB), ``--upsert`` commits the added rows with an upsert (as a
reconcile does) instead of the plain insert the engine uses while it sends its diff
(:meth:`StateStore.fresh_adds`).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import resource
import tempfile
import time
from pathlib import Path

from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.state import StateStore
from reverse_etl.state_schema import ddl
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

BATCH = 10_000
SCHEMA = "EMAIL+PHONE+FN+LN+CT+ST+ZIP+COUNTRY+DOBY+DOBM+DOBD+GEN"


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def batch(n: int) -> tuple[list[Record], list[RowResult]]:
    records, results = [], []
    for i in range(n * BATCH, (n + 1) * BATCH):
        key = f"u{i}"
        fields = {
            "EMAIL": f"Person{i:08d}@Example.com",
            "PHONE": f"+1 (650) 555-{i % 10000:04d}",
            "FN": "Ana",
            "LN": "Ng",
            "CT": "Paris",
            "ST": "CA",
            "ZIP": "94105",
            "COUNTRY": "US",
            "DOB": "1970-01-01",
            "GEN": "female",
        }
        fp = hashlib.md5(key.encode()).hexdigest()
        row = ",".join(hashlib.sha256(f"{key}:{j}".encode()).hexdigest() for j in range(12))
        records.append(Record(key, "add", fp, fields))
        results.append(RowResult(key, Outcome.ACKED, dest_id=f"{SCHEMA}|{row}"))
    return records, results


def commits(st: StateStore, run_id: str, batches: int) -> dict[str, float]:
    """Write ahead and commit ``batches`` batches; CPU and wall seconds of each kind."""
    t = {"wal_cpu": 0.0, "wal_s": 0.0, "commit_cpu": 0.0, "commit_s": 0.0}
    for n in range(batches):
        records, results = batch(n)
        pairs = list(zip(records, results, strict=True))
        c0, t0 = cpu(), time.perf_counter()
        st.write_inflight("bench", run_id, f"{run_id}:{n}", records)
        c1, t1 = cpu(), time.perf_counter()
        st.commit_batch("bench", run_id, pairs, {"added": BATCH}, batch_id=f"{run_id}:{n}")
        c2, t2 = cpu(), time.perf_counter()
        t["wal_cpu"] += c1 - c0
        t["wal_s"] += t1 - t0
        t["commit_cpu"] += c2 - c1
        t["commit_s"] += t2 - t1
    return t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=300_000)
    ap.add_argument("--plain-dest-id", action="store_true")
    ap.add_argument("--upsert", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_state_") as tmp:
        path = Path(tmp) / "w.duckdb"
        wh = DuckDBWarehouse.from_env(str(path))
        if args.plain_dest_id:
            for stmt in ddl("other"):  # (any dialect but DuckDB's: plain VARCHAR)
                wh.execute(stmt)
        st = StateStore(wh)
        st.ensure()
        run_id = st.start_run("bench", "meta", "upsert")
        fresh = contextlib.nullcontext() if args.upsert else st.fresh_adds("bench")
        with fresh:
            t = commits(st, run_id, args.rows // BATCH)
        wh.execute("CHECKPOINT")
        size = path.stat().st_size / 2**20
        wh.close()
    undone = ", ".join(f for f in ("plain_dest_id", "upsert") if getattr(args, f))
    cpu_row = 1e6 * (t["wal_cpu"] + t["commit_cpu"]) / args.rows
    print(
        f"{args.rows:,} rows{f' ({undone})' if undone else ''}: write-ahead "
        f"{t['wal_cpu']:.2f} s CPU ({t['wal_s']:.2f} s), commits {t['commit_cpu']:.2f} s CPU "
        f"({t['commit_s']:.2f} s), together {cpu_row:.1f} µs CPU a row; file {size:.0f} MB"
    )


if __name__ == "__main__":
    main()
