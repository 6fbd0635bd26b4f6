"""Benchmark of the Braze, Meta, Google Data Manager, Google Ads and Marketo destinations, each
against its local emulator with the API limits off (the figures are the sync's own cost: diff
SQL, normalisation + SHA-256 hashing, JSON, HTTP, per-batch state commits), or, with
``--rate-limit on`` (Marketo), at the API's published rate with the emulator enforcing it: the
figures then say how close the sync runs to the ceiling (steady requests per second after the
first full window, as a share of the published rate, and the most requests in any window).

    python benchmarks/bench_destinations.py --rows 100000 --record
    python benchmarks/bench_destinations.py --rows 1000000 --destination meta --record
    python benchmarks/bench_destinations.py --suite --record     # 100k and 1M, all of them
    python benchmarks/bench_destinations.py --rows 45000 --destination marketo --rate-limit on

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
import urllib.request
from pathlib import Path

from emulated_sync import ROOT, run_child, running_emulator
from emulated_sync import shipped_sync as shipped
from process_measure import append_result, result_row

SCHEMA = "main_audiences"
KEY = "bench-not-a-secret"
DEV = "bench-dev-token"
CLIENT = "bench-client"

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
    "aud_marketo_leads": f"""
        SELECT 'person' || lpad(i::VARCHAR, 8, '0') || '@example.com' AS email,
               'u' || i::VARCHAR AS user_id, {COMMON}
               (['94105', '75001', '10115'])[1 + i % 3] AS postal_code,
               (['', 'champions', 'champions;high_value'])[1 + i % 3] AS segments,
               (['champions', 'at_risk', 'hibernating'])[1 + i % 3] AS rfm_segment,
               (['hot', 'warm', 'cold'])[1 + i % 3] AS intent_tier,
               round((i % 90000) / 100.0, 2)::DOUBLE AS lifetime_revenue,
               (i % 40)::INTEGER AS orders_count,
               TIMESTAMP '2026-01-01' + to_seconds(i % 5000000) AS last_order_at,
               TIMESTAMP '2026-11-20' AS as_of
        FROM range({{rows}}) r(i)""",
}
MART_OF = {"braze": "aud_braze_users", "marketo": "aud_marketo_leads"}  # (others: aud_ads)
# The null destination (benchmarks/null_destination.py) acknowledges every row without a
# request: its figures are the engine's own cost per row.
NULL = "null"


def shipped_sync(name: str, rate_limit: bool = False):
    """The sync of destination ``name`` as shipped in syncs.yml (its mapping and options), run
    on the whole benchmark mart: no segment filter, no Braze events (the figures are the
    attribute rows), client-side limits off. Google Ads, commented out there, takes the Google
    sync's mapping with the Ads account; the null destination takes Meta's sync."""
    from reverse_etl.config import SyncConfig

    if name == NULL:
        base = shipped("meta")
        return SyncConfig.model_validate(
            {**base.model_dump(exclude_none=True), "name": "bench_null", "where": None}
        )
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
            "rate_limit": None if rate_limit else "off",  # None: the published rate
            "options": options,
        }
    )


EMULATOR = {
    "braze": ("braze", ["--key", KEY, "--rate", "0"]),
    "meta": ("meta", ["--token", KEY, "--hourly-base", "0"]),
    "google_data_manager": ("google", ["--token", KEY, "--no-limits"]),
    "google_ads": ("google", ["--token", KEY, "--developer-token", DEV, "--no-limits"]),
    "marketo": (
        "marketo",
        [
            *("--client-id", CLIENT, "--client-secret", KEY, "--any-field"),
            *("--rate", "0", "--concurrent", "0", "--daily", "0"),
        ],
    ),
}
# With --rate-limit on, the emulator enforces the published limit (Marketo: 100 calls / 20 s)
LIMITED = {"marketo": ["--rate", "100", "--window", "20"]}


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
        "marketo": {
            "MARKETO_BASE_URL": url,
            "MARKETO_CLIENT_ID": CLIENT,
            "MARKETO_CLIENT_SECRET": KEY,
        },
    }[name]


def build_mart(db: Path, name: str, rows: int) -> None:
    import duckdb

    model = shipped_sync(name).model
    sql = MARTS[MART_OF.get(name, "aud_ads")].format(rows=rows)
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


def child(root: Path, name: str, rate_limit: bool) -> None:
    """The measured process: first sync, then an unchanged rerun."""
    from reverse_etl.config import Project, SyncsFile
    from reverse_etl.destinations.registry import build_destination
    from reverse_etl.engine import SyncEngine
    from reverse_etl.http.transport import HttpTransport
    from reverse_etl.warehouse.duckdb import DuckDBWarehouse

    sent: list[float] = []
    original = HttpTransport._once

    def timed(self, *a, **kw):
        sent.append(time.monotonic())
        return original(self, *a, **kw)

    HttpTransport._once = timed  # record when each request leaves
    sync = shipped_sync(name, rate_limit)
    factory = build_destination
    if name == NULL:
        from null_destination import NullDestination

        factory = NullDestination
    limits = factory(sync).limits
    project = Project(path=root / "syncs.yml", file=SyncsFile(syncs=[sync]))
    wh = DuckDBWarehouse.from_env(str(root / "w.duckdb"))  # AUDIENCES_SYNC_MEMORY_LIMIT
    engine = SyncEngine(project, wh, destination_factory=factory)
    t0 = time.monotonic()
    first = engine.run(sync)
    t1 = time.monotonic()
    n_first = len(sent)
    second = engine.run(sync)
    t2 = time.monotonic()
    wh.close()
    out = {
        "first_status": first.status,
        "first_error": first.error,
        "first_seconds": t1 - t0,
        "first_counts": first.counts,
        "rerun_status": second.status,
        "rerun_seconds": t2 - t1,
        "rerun_requests": second.counts.get("requests", 0),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        # the encode worker processes (reverse_etl/encode_ahead.py) have ended by now: the
        # largest one's peak, and how many ran at once
        "worker_peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "encode_workers": engine.encode_workers
        if rows_sent(first) >= engine.encode_min_rows and name in ENCODERS
        else 0,
    }
    if rate_limit and limits.requests_per_window:
        out.update(pacing(sent[:n_first], limits.requests_per_window, limits.window_seconds))
    print(json.dumps(out))


ENCODERS = ("meta", "google_data_manager", "google_ads")  # capability Encoding


def rows_sent(result) -> int:
    return sum(result.counts.get(k, 0) for k in ("added", "changed", "rejected"))


def pacing(ts: list[float], ceiling: int, window: float) -> dict:
    """How close requests sent at ``ts`` ran to ``ceiling`` requests per ``window`` seconds:
    the steady rate after the first full window (the limiter can only pace then, not burst)
    and the most requests in any window."""
    out: dict = {"ceiling": ceiling, "window_seconds": window}
    steady = [t for t in ts if t >= ts[0] + window]
    if len(steady) > 1:
        rate = (len(steady) - 1) / (steady[-1] - steady[0])
        out.update(steady_per_s=rate, share_of_ceiling=rate * window / ceiling)
    worst = j = 0
    for i, t in enumerate(ts):
        while ts[j] <= t - window:
            j += 1
        worst = max(worst, i - j + 1)
    out["max_in_window"] = worst
    return out


def measure(name: str, rows: int, rate_limit: bool = False) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_dest_") as tmp:
        root = Path(tmp)
        t = time.monotonic()
        build_mart(root / "w.duckdb", name, rows)
        build_s = time.monotonic() - t
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        cmd = [__file__, "--child", str(root), "--destination", name]
        if name == NULL:
            result = run_child(cmd, env)
            result.update(rows=rows, build_seconds=build_s, destination=name)
            return result
        module, args = EMULATOR[name]
        if rate_limit:
            args = [*args, *LIMITED[name]]  # (the later flag wins)
        with running_emulator(["-m", f"audiences_emulators.{module}", *args], env) as url:
            env.update(env_for(name, url))
            result = run_child(cmd + (["--rate-limit", "on"] if rate_limit else []), env)
            with urllib.request.urlopen(f"{url}/__emulator/stats", timeout=30) as fh:
                result["emulator_throttled"] = json.load(fh).get("throttled")
        result.update(rows=rows, build_seconds=build_s, destination=name)
        return result


def figures(r: dict) -> str:
    rows, c = r["rows"], r["first_counts"]
    if r["destination"] == NULL:
        return (
            f"null destination (engine overhead): {rows:,} rows, first sync "
            f"{r['first_status']} in {r['first_seconds']:.1f} s = "
            f"{1e6 * r['first_seconds'] / rows:.1f} µs per row ({rows / r['first_seconds']:,.0f} "
            f"rows/s); peak RSS {r['peak_rss_mb']:.0f} MB; unchanged rerun "
            f"{r['rerun_seconds']:.2f} s"
        )
    return (
        f"{r['destination']}: {rows:,} rows, first sync {r['first_status']} in "
        f"{r['first_seconds']:.1f} s ({rows / r['first_seconds']:,.0f} rows/s, "
        f"{c.get('requests', 0):,} requests, {c.get('added', 0):,} added, "
        f"{c.get('rejected', 0):,} rejected); peak RSS {rss_figures(r)}; unchanged "
        f"rerun {r['rerun_seconds']:.2f} s with {r['rerun_requests']} requests" + pace_figures(r)
    )


def rss_figures(r: dict) -> str:
    n = r.get("encode_workers", 0)
    if not n:
        return f"{r['peak_rss_mb']:.0f} MB"
    return (
        f"{r['peak_rss_mb']:.0f} MB for the sync process, {r['peak_tree_pss_mb']:.0f} MB PSS "
        f"for the sync and its {n} encode workers together (RSS of the largest worker "
        f"{r['worker_peak_rss_mb']:.0f} MB, mostly pages shared with the sync since the fork)"
    )


def pace_figures(r: dict) -> str:
    if "share_of_ceiling" not in r:
        return ""
    return (
        f"; rate limit on ({r['ceiling']} requests / {r['window_seconds']:g} s): steady "
        f"{r['steady_per_s']:.2f} requests/s = {100 * r['share_of_ceiling']:.1f} % of the "
        f"ceiling, max {r['max_in_window']} requests in any {r['window_seconds']:g} s, "
        f"{r['emulator_throttled']} throttled by the emulator"
    )


def record(command: str, text: str, note: str | None) -> None:
    append_result(result_row(command, f"{text}. {note}" if note else text))


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--destination", choices=[*EMULATOR, NULL, "all"], default="all")
    ap.add_argument("--suite", action="store_true", help="100k and 1M rows, all destinations")
    ap.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    ap.add_argument("--note", help="free text appended to the recorded figures")
    ap.add_argument("--duckdb-memory", help="DuckDB memory_limit of the sync, e.g. 256MB")
    ap.add_argument(
        "--rate-limit",
        choices=["on", "off"],
        default="off",
        help=f"on: the published rate, enforced by the emulator ({', '.join(LIMITED)})",
    )
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.duckdb_memory:
        os.environ["AUDIENCES_SYNC_MEMORY_LIMIT"] = args.duckdb_memory
    limited = args.rate_limit == "on"
    if args.child:
        child(Path(args.child), args.destination, limited)
        return
    names = list(EMULATOR) if args.destination == "all" else [args.destination]
    if limited:
        names = [n for n in names if n in LIMITED]
    sizes = [100_000, 1_000_000] if args.suite else [args.rows]
    for rows in sizes:
        for name in names:
            r = measure(name, rows, limited)
            text = figures(r)
            print(text, flush=True)
            if args.record:
                mem = f" --duckdb-memory {args.duckdb_memory}" if args.duckdb_memory else ""
                mem += " --rate-limit on" if limited else ""
                record(
                    f"python benchmarks/bench_destinations.py --rows {rows} --destination {name}"
                    + mem,
                    text,
                    args.note,
                )


if __name__ == "__main__":
    main()
