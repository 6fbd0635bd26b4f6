"""Benchmark of the reverse-ETL sync (HubSpot destination against the local emulator).

Measures, for a model of N rows: the first sync (rows/s, peak RSS of the sync process), an
unchanged rerun (seconds, requests) and, with the rate limit on, the sustained request rate
against HubSpot's published ceiling (free tier: 100 requests per rolling 10 s).

    python benchmarks/bench_sync.py --rows 100000 --rate-limit off --record
    python benchmarks/bench_sync.py --rows 20000 --rate-limit on --record
    python benchmarks/bench_sync.py --suite --record      # 100k off, 1M off, 20k on

The model table is generated in a separate process and the emulator runs in its own process,
so the peak RSS reported is the sync's alone (Python + DuckDB). Rows are appended to
benchmarks/RESULTS.md (| date | machine | command | figures |).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from emulated_sync import ROOT, run_child, running_emulator, shipped_sync
from process_measure import append_result, result_row

from reverse_etl.warehouse.duckdb import SYNC_MEMORY_ENV

TOKEN = "bench-token"


def build_model(db: Path, rows: int) -> None:
    """The aud_hubspot_contacts columns, generated in SQL."""
    import duckdb

    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA main_audiences")
    con.execute(f"""
        CREATE TABLE main_audiences.aud_hubspot_contacts AS
        SELECT 'person' || lpad(i::VARCHAR, 8, '0') || '@example.com' AS email,
               'u' || i::VARCHAR AS user_id,
               (['Ana', 'Ben', 'Chloé', 'Dev'])[1 + i % 4] AS first_name,
               (['Ng', 'Smith', 'Łukasz'])[1 + i % 3] AS last_name,
               '+1555' || lpad(i::VARCHAR, 7, '0') AS phone,
               (['US', 'FR', 'DE'])[1 + i % 3] AS country,
               (['Paris', 'Berlin', 'NYC', 'Lyon'])[1 + i % 4] AS city,
               (['', 'champions', 'champions;high_value',
                 'high_engagement;potential_buyer'])[1 + i % 4] AS segments,
               (['champions', 'at_risk', 'hibernating'])[1 + i % 3] AS rfm_segment,
               (['hot', 'warm', 'cold'])[1 + i % 3] AS intent_tier,
               round((i % 90000) / 100.0, 2)::DOUBLE AS lifetime_revenue,
               (i % 40)::INTEGER AS orders_count,
               TIMESTAMP '2026-01-01' + to_seconds(i % 5000000) AS last_order_at,
               TIMESTAMP '2026-11-20' AS as_of
        FROM range({rows}) r(i)""")
    con.close()


def write_project(root: Path, rate_limit: bool) -> None:
    import yaml

    target = root / "target"
    target.mkdir()
    uid = "model.audiences.aud_hubspot_contacts"
    (target / "manifest.json").write_text(
        json.dumps(
            {
                "metadata": {"project_name": "audiences"},
                "nodes": {
                    uid: {
                        "resource_type": "model",
                        "name": "aud_hubspot_contacts",
                        "alias": "aud_hubspot_contacts",
                        "schema": "main_audiences",
                        "unique_id": uid,
                        "package_name": "audiences",
                    }
                },
            }
        )
    )
    (target / "run_results.json").write_text(
        json.dumps({"results": [{"unique_id": uid, "status": "success"}]})
    )
    sync = {
        "name": "hubspot_contacts",
        "model": "aud_hubspot_contacts",
        "destination": "hubspot",
        "mode": "mirror",
        "identity": "email",
        "list": "Audiences - benchmark",
        "mapping": shipped_sync("hubspot").mapping,
        "options": {"tier": "free", "clear_on_removal": ["audiences_segments"]},
    }
    if not rate_limit:
        sync["rate_limit"] = "off"
    (root / "syncs.yml").write_text(yaml.safe_dump({"syncs": [sync]}, allow_unicode=True))


def child(root: Path, rate_limit: bool) -> None:
    """Runs in the measured process: first sync, then an unchanged rerun."""
    sys.path.insert(0, str(ROOT))
    from reverse_etl.config import load_project
    from reverse_etl.engine import SyncEngine
    from reverse_etl.http.transport import HttpTransport
    from reverse_etl.warehouse.duckdb import DuckDBWarehouse

    sent: list[float] = []
    original = HttpTransport._once

    def timed(self, *a, **kw):
        sent.append(time.monotonic())
        return original(self, *a, **kw)

    HttpTransport._once = timed  # record when each request leaves
    project = load_project(root / "syncs.yml")
    sync = project.file.syncs[0]
    wh = DuckDBWarehouse.from_env(str(root / "w.duckdb"))  # AUDIENCES_SYNC_MEMORY_LIMIT
    engine = SyncEngine(project, wh)
    t0 = time.monotonic()
    first = engine.run(sync)
    t1 = time.monotonic()
    rss_first = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_first = len(sent)
    second = engine.run(sync)
    t2 = time.monotonic()
    wh.close()
    out = {
        "first_status": first.status,
        "first_seconds": t1 - t0,
        "first_counts": first.counts,
        "rerun_status": second.status,
        "rerun_seconds": t2 - t1,
        "rerun_requests": len(sent) - n_first,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_first_mb": rss_first,
    }
    if rate_limit and n_first > 100:
        # Steady state: after the first full window the limiter can only pace, not burst.
        ts = sent[:n_first]
        start = ts[0] + 10.0
        steady = [t for t in ts if t >= start]
        if len(steady) > 1:
            out["steady_requests_per_s"] = (len(steady) - 1) / (steady[-1] - steady[0])
        out["overall_requests_per_s"] = n_first / (ts[-1] - ts[0] + 1e-9)
        worst = 0
        j = 0
        for i, t in enumerate(ts):
            while ts[j] <= t - 10.0:
                j += 1
            worst = max(worst, i - j + 1)
        out["max_requests_in_10s"] = worst
    print(json.dumps(out))


def measure(rows: int, rate_limit: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmp:
        root = Path(tmp)
        t = time.monotonic()
        build_model(root / "w.duckdb", rows)
        build_s = time.monotonic() - t
        write_project(root, rate_limit)
        emu_args = [
            "-m",
            "audiences_emulators",
            "hubspot",
            "--token",
            TOKEN,
            "--any-property",
            "--daily",
            "0",
        ]
        emu_args += ["--burst", "100", "--window", "10"] if rate_limit else ["--burst", "0"]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with running_emulator(emu_args, env) as url:
            env.update({"HUBSPOT_BASE_URL": url, "HUBSPOT_ACCESS_TOKEN": TOKEN})
            result = run_child(
                [__file__, "--child", str(root)] + (["--rate-limit", "on"] if rate_limit else []),
                env,
            )
            with urllib.request.urlopen(f"{url}/__emulator/stats", timeout=30) as fh:
                stats = json.load(fh)
            result["emulator_throttled"] = stats.get("throttled")
            result["emulator_contacts"] = stats.get("contacts")
        result["rows"] = rows
        result["build_seconds"] = build_s
        return result


def figures(r: dict, rate_limit: bool) -> str:
    rows = r["rows"]
    parts = [
        f"{rows:,} rows, first sync {r['first_status']} in {r['first_seconds']:.1f} s "
        f"({rows / r['first_seconds']:,.0f} rows/s, "
        f"{r['first_counts'].get('requests', 0):,} requests)",
        f"peak RSS {r['peak_rss_mb']:.0f} MB",
        f"unchanged rerun {r['rerun_seconds']:.2f} s with {r['rerun_requests']} requests",
        f"emulator holds {r['emulator_contacts']:,} contacts, "
        f"{r['emulator_throttled']} throttled (429)",
    ]
    if rate_limit and "steady_requests_per_s" in r:
        parts.append(
            f"rate limit on (100 req / 10 s): steady {r['steady_requests_per_s']:.2f} req/s = "
            f"{100 * r['steady_requests_per_s'] / 10:.1f} % of the ceiling, "
            f"max {r['max_requests_in_10s']} requests in any 10 s"
        )
    return "; ".join(parts)


def record(command: str, text: str, note: str | None) -> None:
    append_result(result_row(command, f"{text}. {note}" if note else text))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--rate-limit", choices=["on", "off"], default="off")
    ap.add_argument("--suite", action="store_true", help="100k and 1M without limit, 20k with")
    ap.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    ap.add_argument("--note", help="free text appended to the recorded figures")
    ap.add_argument(
        "--duckdb-memory", help="DuckDB memory_limit of the sync (default: the sync's, 256MB)"
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.duckdb_memory:
        os.environ[SYNC_MEMORY_ENV] = args.duckdb_memory  # inherited by the measured child
    if args.child:
        child(Path(args.child), args.rate_limit == "on")
        return
    runs = (
        [(100_000, False), (1_000_000, False), (20_000, True)]
        if args.suite
        else [(args.rows, args.rate_limit == "on")]
    )
    for rows, rl in runs:
        r = measure(rows, rl)
        text = figures(r, rl)
        print(text, flush=True)
        if args.record:
            mem = f" --duckdb-memory {args.duckdb_memory}" if args.duckdb_memory else ""
            limit = "on" if rl else "off"
            record(
                f"python benchmarks/bench_sync.py --rows {rows} --rate-limit {limit}{mem}",
                text,
                args.note,
            )


if __name__ == "__main__":
    main()
