"""Benchmark of the Braze, Meta, Google Data Manager and Google Ads destinations, each against
its local emulator with the API limits off (the figures are the sync's own cost: diff SQL,
normalisation + SHA-256 hashing, JSON, HTTP, per-batch state commits).

    python benchmarks/bench_destinations.py --rows 100000 --record
    python benchmarks/bench_destinations.py --rows 1000000 --destination meta --record
    python benchmarks/bench_destinations.py --suite --record     # 100k and 1M, all four

For each destination and size: the audience mart is generated in SQL (DuckDB) in this
process, the emulator runs in its own process, and the sync runs in a third process whose
wall time and peak RSS are reported (first sync, then an unchanged rerun). Rows are appended
to benchmarks/RESULTS.md (| date | machine | command | figures |).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

from emulated_sync import ROOT, run_child, running_emulator
from emulated_sync import shipped_sync as shipped
from process_measure import append_result, result_row

SCHEMA = "main_audiences"
KEY = "bench-not-a-secret"
DEV = "bench-dev-token"

COMMON = """
    (['Ana', 'Ben', 'Chloé', 'José'])[1 + i % 4] AS first_name,
    (['Ng', 'Smith', 'O''Brien', 'Łukasz'])[1 + i % 4] AS last_name,
    '+1 (650) ' || lpad((555 + (i // 10000) % 400)::VARCHAR, 3, '0') || '-'
        || lpad((i % 10000)::VARCHAR, 4, '0') AS phone,
    (['US', 'FR', 'DE'])[1 + i % 3] AS country,
    (['Paris', 'Berlin', 'New York', 'Lyon'])[1 + i % 4] AS city,
"""
MARTS = {
    "aud_braze_users": f"""
        SELECT 'u' || i::VARCHAR AS external_id,
               'Person' || lpad(i::VARCHAR, 8, '0') || '@Example.com' AS email, {COMMON}
               (['champions', 'champions;high_value', 'high_engagement;potential_buyer'])
                   [1 + i % 3] AS segments,
               (['champions', 'at_risk', 'hibernating'])[1 + i % 3] AS rfm_segment,
               ((i * 7) % 100)::DOUBLE AS intent_score,
               (['hot', 'warm', 'cold'])[1 + i % 3] AS intent_tier,
               round((i % 90000) / 100.0, 2)::DOUBLE AS lifetime_revenue,
               (i % 40)::INTEGER AS orders_count,
               TIMESTAMP '2026-01-01' + to_seconds(i % 5000000) AS last_order_at,
               TIMESTAMP '2026-11-20' AS as_of
        FROM range({{rows}}) r(i)""",
    "aud_ads": f"""
        SELECT 'u' || i::VARCHAR AS user_id, 'high_value' AS segment_key,
               'Person' || lpad(i::VARCHAR, 8, '0') || '@Example.com' AS email, {COMMON}
               (['94105', '75001', '10115'])[1 + i % 3] AS postal_code,
               (['CA', 'IDF', 'BE'])[1 + i % 3] AS region,
               DATE '1970-01-01' + (i % 15000)::INTEGER AS birth_date,
               (['female', 'male', NULL])[1 + i % 3] AS gender,
               TIMESTAMP '2026-11-20' AS as_of
        FROM range({{rows}}) r(i)""",
}


def shipped_sync(name: str):
    """The sync of destination ``name`` as shipped in syncs.yml (its mapping and options), run
    on the whole benchmark mart: no segment filter, no Braze events (the figures are the
    attribute rows), client-side limits off. Google Ads, commented out there, takes the Google
    sync's mapping with the Ads account."""
    from reverse_etl.config import SyncConfig

    base = shipped("google_data_manager" if name == "google_ads" else name)
    options = {k: v for k, v in base.options.items() if k != "events"}
    if name == "google_ads":
        options = {"customer_id": "9876543210"}
    return SyncConfig.model_validate(
        {
            **base.model_dump(exclude_none=True),
            "name": f"bench_{name}",
            "destination": name,
            "where": None,
            "list": "Audiences | benchmark",
            "rate_limit": "off",
            "options": options,
        }
    )


EMULATOR = {
    "braze": ("braze", ["--key", KEY, "--rate", "0"]),
    "meta": ("meta", ["--token", KEY, "--hourly-base", "0"]),
    "google_data_manager": ("google", ["--token", KEY, "--no-limits"]),
    "google_ads": ("google", ["--token", KEY, "--developer-token", DEV, "--no-limits"]),
}


def env_for(name: str, url: str) -> dict[str, str]:
    return {
        "braze": {"BRAZE_REST_ENDPOINT": url, "BRAZE_API_KEY": KEY},
        "meta": {"META_GRAPH_URL": url + "/v25.0", "META_ACCESS_TOKEN": KEY},
        "google_data_manager": {"GOOGLE_DATA_MANAGER_URL": url, "GOOGLE_ACCESS_TOKEN": KEY},
        "google_ads": {
            "GOOGLE_ADS_BASE_URL": url,
            "GOOGLE_ACCESS_TOKEN": KEY,
            "GOOGLE_ADS_DEVELOPER_TOKEN": DEV,
        },
    }[name]


def build_mart(db: Path, name: str, rows: int) -> None:
    import duckdb

    model = shipped_sync(name).model
    sql = MARTS["aud_braze_users" if name == "braze" else "aud_ads"].format(rows=rows)
    con = duckdb.connect(str(db))
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE {SCHEMA}.{model} AS {sql}")
    con.close()
    target = db.parent / "target"
    target.mkdir(exist_ok=True)
    uid = f"model.audiences.{model}"
    node = {"resource_type": "model", "name": model, "alias": model, "schema": SCHEMA}
    (target / "manifest.json").write_text(
        json.dumps(
            {
                "metadata": {"project_name": "audiences"},
                "nodes": {uid: {**node, "unique_id": uid, "package_name": "audiences"}},
            }
        )
    )
    (target / "run_results.json").write_text(
        json.dumps({"results": [{"unique_id": uid, "status": "success"}]})
    )


def child(root: Path, name: str) -> None:
    """The measured process: first sync, then an unchanged rerun."""
    from reverse_etl.config import Project, SyncsFile
    from reverse_etl.engine import SyncEngine
    from reverse_etl.warehouse.duckdb import DuckDBWarehouse

    sync = shipped_sync(name)
    project = Project(path=root / "syncs.yml", file=SyncsFile(syncs=[sync]))
    wh = DuckDBWarehouse.from_env(str(root / "w.duckdb"))  # AUDIENCES_SYNC_MEMORY_LIMIT
    engine = SyncEngine(project, wh)
    t0 = time.monotonic()
    first = engine.run(sync)
    t1 = time.monotonic()
    second = engine.run(sync)
    t2 = time.monotonic()
    wh.close()
    print(
        json.dumps(
            {
                "first_status": first.status,
                "first_error": first.error,
                "first_seconds": t1 - t0,
                "first_counts": first.counts,
                "rerun_status": second.status,
                "rerun_seconds": t2 - t1,
                "rerun_requests": second.counts.get("requests", 0),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def measure(name: str, rows: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_dest_") as tmp:
        root = Path(tmp)
        t = time.monotonic()
        build_mart(root / "w.duckdb", name, rows)
        build_s = time.monotonic() - t
        module, args = EMULATOR[name]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        with running_emulator(["-m", f"audiences_emulators.{module}", *args], env) as url:
            env.update(env_for(name, url))
            result = run_child([__file__, "--child", str(root), "--destination", name], env)
        result.update(rows=rows, build_seconds=build_s, destination=name)
        return result


def figures(r: dict) -> str:
    rows, c = r["rows"], r["first_counts"]
    return (
        f"{r['destination']}: {rows:,} rows, first sync {r['first_status']} in "
        f"{r['first_seconds']:.1f} s ({rows / r['first_seconds']:,.0f} rows/s, "
        f"{c.get('requests', 0):,} requests, {c.get('added', 0):,} added, "
        f"{c.get('rejected', 0):,} rejected); peak RSS {r['peak_rss_mb']:.0f} MB; unchanged "
        f"rerun {r['rerun_seconds']:.2f} s with {r['rerun_requests']} requests"
    )


def record(command: str, text: str, note: str | None) -> None:
    append_result(result_row(command, f"{text}. {note}" if note else text))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--destination", choices=[*EMULATOR, "all"], default="all")
    ap.add_argument("--suite", action="store_true", help="100k and 1M rows, all destinations")
    ap.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    ap.add_argument("--note", help="free text appended to the recorded figures")
    ap.add_argument("--duckdb-memory", help="DuckDB memory_limit of the sync, e.g. 256MB")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.duckdb_memory:
        os.environ["AUDIENCES_SYNC_MEMORY_LIMIT"] = args.duckdb_memory
    if args.child:
        child(Path(args.child), args.destination)
        return
    names = list(EMULATOR) if args.destination == "all" else [args.destination]
    sizes = [100_000, 1_000_000] if args.suite else [args.rows]
    for rows in sizes:
        for name in names:
            r = measure(name, rows)
            text = figures(r)
            print(text, flush=True)
            if args.record:
                mem = f" --duckdb-memory {args.duckdb_memory}" if args.duckdb_memory else ""
                record(
                    f"python benchmarks/bench_destinations.py --rows {rows} --destination {name}"
                    + mem,
                    text,
                    args.note,
                )


if __name__ == "__main__":
    main()
