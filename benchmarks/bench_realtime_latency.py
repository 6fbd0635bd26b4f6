"""Benchmark: event -> segment visible in a lookup, at a sustained event rate, after a
history of realistic visitors has been streamed through the evaluator.

Usage (from the project root, after `make setup` and `bash scripts/redis_up.sh`):

    .venv/bin/python benchmarks/bench_realtime_latency.py --history-events 10000000 \
        --rate 2000 --duration 300 [--record --note "..."]

Steps (loopback only, bounded in time; every key under a private AUDIENCES_REDIS_PREFIX,
deleted at the end):
  1. History: `audiences generate --events N --seed 5 --as-of <now>` into a temporary DuckDB
     file (as-of = now, so the last days fall inside the rule windows); its events, in
     arrival order (loaded_at), are published to the real stream in big batches
     (RedisEventStream.publish) and `audiences stream --once --batch-size B` evaluates them
     until the evaluator's lag is 0. Reports events/s of both, and Redis used_memory before
     and after (per million devices).
  2. The batch cache is marked loaded now (batch:meta), so lookups answer instead of 503.
  3. `audiences serve` and `audiences stream` start in their own processes.
  4. Measured phase, open loop: --rate events/s for --duration s, posted to POST /v1/events
     in requests of --batch-events events (re-stamped copies of history events: existing
     visitors, the generator's mix of event types). Meanwhile --probes-per-second probe
     visitors (new anonymous ids outside the holdout of viewed_product_3x_24h) each post 4
     views of one product, one request each; after the 4th is answered 202 the probe polls
     GET /v1/profiles/{anon}/segments every --poll-ms until the segment is there:
     latency = visible - 202 of the 4th view.
  5. p50 / p99 / max probe latency, achieved events/s, the evaluator's lag (greatest during
     the run, and at the end); --record appends a row to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
from process_measure import append_result, result_row
from realtime_load import (
    BIN,
    PROJECT_DIR,
    Connection,
    LoadResult,
    Request,
    benchmark_env,
    delete_prefix,
    free_port,
    loopback_client,
    open_loop,
    percentile,
    run,
    settle_persistence,
    start_server,
    stop_process,
    used_memory,
)

from audiences.realtime.evaluator.evaluate import is_holdout
from audiences.realtime.evaluator.rules import load_rules
from audiences.realtime.keys import EVALUATOR_GROUP, RedisKeys
from audiences.realtime.stream import RedisEventStream

SEGMENT = "viewed_product_3x_24h"
BENCH_KEY = "sk_bench_" + uuid.uuid4().hex[:12]
# the raw contract's columns an event on the stream carries (docs/realtime.md)
EVENT_COLUMNS = [
    "event_id",
    "anonymous_id",
    "user_id",
    "session_id",
    "event_type",
    "page_type",
    "page_url",
    "product_id",
    "product_category",
    "engaged_seconds",
    "device_type",
    "browser",
    "os",
    "country",
    "region",
    "city",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "occurred_at",
]


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def run_logged(command: list[str], env: dict[str, str], log: Path) -> float:
    """Runs a command from the project root, output into ``log``; returns its wall time."""
    started = time.perf_counter()
    with log.open("w") as out:
        status = subprocess.run(
            command, cwd=PROJECT_DIR, env=env, stdout=out, stderr=out
        ).returncode
    if status != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return time.perf_counter() - started


def command_args(argv: list[str]) -> list[str]:
    """The arguments that set the figures (without --record and --note)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--note":
            skip = True
        elif arg != "--record" and not arg.startswith("--note="):
            out.append(arg)
    return out


@dataclass(frozen=True)
class PrefixMemory:
    """MEMORY USAGE of the benchmark's own keys (other users of a shared Redis excluded)."""

    state_bytes: int  # evaluator state, memberships, person index, changes, meta
    state_keys: int
    seen_bytes: int  # the API's idempotency keys (estimated from a sample)
    seen_keys: int
    stream_bytes: int  # the event stream


def prefix_memory(client: Any, keys: RedisKeys, batch: int = 1000) -> PrefixMemory:
    seen_prefix = keys.seen("")
    state_bytes = state_keys = seen_keys = 0
    seen_sample: list[str] = []
    names: list[str] = []

    def usage(some: list[str]) -> int:
        pipe = client.pipeline(transaction=False)
        for name in some:
            pipe.memory_usage(name)
        return sum(int(v or 0) for v in pipe.execute())

    for name in client.scan_iter(match=f"{keys.prefix}*", count=5000):
        if name == keys.events:
            continue
        if name.startswith(seen_prefix):
            seen_keys += 1
            if len(seen_sample) < batch:
                seen_sample.append(name)
            continue
        names.append(name)
        state_keys += 1
        if len(names) >= batch:
            state_bytes += usage(names)
            names = []
    state_bytes += usage(names)
    seen_bytes = usage(seen_sample) * seen_keys // max(1, len(seen_sample))
    stream_bytes = int(client.memory_usage(keys.events) or 0)
    return PrefixMemory(state_bytes, state_keys, seen_bytes, seen_keys, stream_bytes)


@dataclass
class History:
    events: int
    devices: int
    generate_s: float
    publish_s: float
    evaluate_s: float
    memory_before: int
    memory_published: int
    memory_after: int
    keys: PrefixMemory
    persistence_s: float  # the append-only file rewrite let finish before the measured phase
    templates: list[dict[str, Any]]
    products: list[str]


def load_history(
    args: argparse.Namespace, env: dict[str, str], client: Any, keys: RedisKeys, work: Path
) -> History:
    db = work / "history.duckdb"
    as_of = utc_now().isoformat(timespec="seconds")
    generate_s = run_logged(
        [
            str(BIN / "audiences"),
            "generate",
            "--events",
            str(args.history_events),
            "--seed",
            "5",
            "--as-of",
            as_of,
            "--db",
            str(db),
        ],
        env,
        work / "generate.log",
    )
    stream = RedisEventStream(client, keys)
    memory_before = used_memory(client)
    con = duckdb.connect(str(db), read_only=True)
    events, devices = con.execute(
        "select count(*), count(distinct anonymous_id) from raw.events"
    ).fetchone()
    started = time.perf_counter()
    cursor = con.execute(
        f"select {', '.join(EVENT_COLUMNS)} from raw.events "
        "order by loaded_at, occurred_at, event_id"
    )
    while rows := cursor.fetchmany(args.publish_batch):
        batch = []
        for row in rows:
            event = dict(zip(EVENT_COLUMNS, row, strict=True))
            event["occurred_at"] = event["occurred_at"].isoformat()
            batch.append(event)
        stream.publish(batch)
    publish_s = time.perf_counter() - started
    memory_published = used_memory(client)
    sample = con.execute(
        f"select {', '.join(EVENT_COLUMNS)} from raw.events "
        "using sample reservoir(20000 rows) repeatable (5)"
    ).fetchall()
    templates = [dict(zip(EVENT_COLUMNS, row, strict=True)) for row in sample]
    products = [
        p
        for (p,) in con.execute(
            "select distinct product_id from raw.events where product_id is not null"
        ).fetchall()
    ]
    con.close()
    db.unlink()

    evaluate_s = run_logged(
        [str(BIN / "audiences"), "stream", "--once", "--batch-size", str(args.history_batch_size)],
        env,
        work / "stream-history.log",
    )
    lag = stream.lag(EVALUATOR_GROUP)
    if lag:
        raise SystemExit(f"the evaluator stopped with {lag} entries not acknowledged")
    memory_after = used_memory(client)
    history_keys = prefix_memory(client, keys)
    # the history leaves the stream, as once the loader has copied it to the warehouse
    # (StreamTrimmer): the measured phase runs on the evaluator state of the whole history
    # and a stream holding only what arrives during the run
    stream.trim_acknowledged([EVALUATOR_GROUP])
    persistence_s = settle_persistence(client)
    return History(
        events=int(events),
        devices=int(devices),
        generate_s=generate_s,
        publish_s=publish_s,
        evaluate_s=evaluate_s,
        memory_before=memory_before,
        memory_published=memory_published,
        memory_after=memory_after,
        keys=history_keys,
        persistence_s=persistence_s,
        templates=templates,
        products=products,
    )


@dataclass
class Probes:
    latencies: list[float] = field(default_factory=list)  # seconds
    missed: int = 0  # the segment never showed within --probe-timeout
    failed: int = 0  # a view was not answered 202
    started: int = 0


def probe_visitor(run: str, n: int, holdout_percent: float) -> str:
    while True:
        anon = f"probe-{run}-{n:05d}-{uuid.uuid4().hex[:8]}"
        if not is_holdout(anon, SEGMENT, holdout_percent):
            return anon


async def probe(port: int, anon: str, product: str, args: argparse.Namespace, out: Probes) -> None:
    """Four views of one product, one request each; then poll until the segment shows."""
    async with Connection(port, BENCH_KEY) as conn:
        for view in range(4):
            if view:
                await asyncio.sleep(args.probe_gap_ms / 1000)
            event = {
                "event_id": f"{anon}-view-{view}",
                "anonymous_id": anon,
                "event_type": "page_view",
                "page_type": "product",
                "page_url": f"/products/{product}",
                "product_id": product,
                "device_type": "desktop",
                "country": "US",
                "occurred_at": utc_now().isoformat(),
            }
            status, _ = await conn.request(
                "POST", "/v1/events", json.dumps({"events": [event]}).encode()
            )
            if status != 202:
                out.failed += 1
                return
        accepted = time.perf_counter()
        deadline = accepted + args.probe_timeout
        while True:
            polled = time.perf_counter()
            status, body = await conn.request("GET", f"/v1/profiles/{anon}/segments")
            if status == 200 and SEGMENT in json.loads(body).get("segments", []):
                out.latencies.append(time.perf_counter() - accepted)
                return
            if polled > deadline:
                out.missed += 1
                return
            await asyncio.sleep(max(0.0, polled + args.poll_ms / 1000 - time.perf_counter()))


async def measured_phase(
    port: int, args: argparse.Namespace, history: History, stream: RedisEventStream
) -> tuple[LoadResult, Probes, int]:
    run = uuid.uuid4().hex[:6]
    rng = random.Random(13)
    holdout_percent = load_rules(PROJECT_DIR).holdout_percent
    request_rate = args.rate / args.batch_events
    total = int(request_rate * args.duration)

    def make_request(i: int) -> Request:
        at = utc_now().isoformat()
        events = []
        for j in range(args.batch_events):
            event = dict(rng.choice(history.templates))
            event["event_id"] = f"bench-{run}-{i}-{j}"
            event["occurred_at"] = at
            events.append(event)
        return "POST", "/v1/events", json.dumps({"events": events}).encode()

    probes = Probes()
    lags: list[int] = []

    async def start_probes() -> None:
        tasks = []
        interval = 1 / args.probes_per_second
        begin = time.perf_counter() + 1.0  # after the load has started
        n = 0
        while time.perf_counter() - begin < args.duration:
            await asyncio.sleep(max(0.0, begin + n * interval - time.perf_counter()))
            anon = probe_visitor(run, n, holdout_percent)
            tasks.append(
                asyncio.create_task(probe(port, anon, rng.choice(history.products), args, probes))
            )
            probes.started += 1
            n += 1
        await asyncio.gather(*tasks)

    async def sample_lag(done: asyncio.Event) -> None:
        while not done.is_set():
            lags.append(await asyncio.to_thread(stream.lag, EVALUATOR_GROUP))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), 1.0)

    done = asyncio.Event()
    sampler = asyncio.create_task(sample_lag(done))
    load_task = asyncio.create_task(
        open_loop(port, BENCH_KEY, make_request, total, request_rate, args.connections)
    )
    await start_probes()
    load = await load_task
    done.set()
    await sampler
    return load, probes, max(lags, default=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--history-events",
        type=int,
        default=1_000_000,
        help="events of history (the issue's target: 10,000,000)",
    )
    parser.add_argument("--rate", type=int, default=2000, help="events per second")
    parser.add_argument("--duration", type=float, default=300.0, help="seconds (<= 600)")
    parser.add_argument("--batch-events", type=int, default=20, help="events per POST")
    parser.add_argument("--probes-per-second", type=float, default=3.0)
    parser.add_argument(
        "--probe-gap-ms", type=float, default=200.0, help="pause between a probe's views"
    )
    parser.add_argument("--poll-ms", type=float, default=5.0, help="lookup poll interval")
    parser.add_argument(
        "--probe-timeout", type=float, default=30.0, help="seconds a probe waits for the segment"
    )
    parser.add_argument("--connections", type=int, default=16, help="connections for the load")
    parser.add_argument("--workers", type=int, default=1, help="`audiences serve --workers`")
    parser.add_argument(
        "--publish-batch", type=int, default=5000, help="history events per publish"
    )
    parser.add_argument(
        "--history-batch-size",
        type=int,
        default=5000,
        help="`audiences stream --batch-size` for the history",
    )
    parser.add_argument(
        "--stream-batch-size",
        type=int,
        default=2000,
        help="`audiences stream --batch-size` while measured",
    )
    parser.add_argument(
        "--redis-url",
        default="redis://127.0.0.1:6379/0",
        help="a Redis on this machine (loopback only)",
    )
    parser.add_argument("--record", action="store_true", help="append to benchmarks/RESULTS.md")
    parser.add_argument("--note", help="free text appended to the recorded figures")
    args = parser.parse_args()
    if not 0 < args.duration <= 600:
        raise SystemExit("--duration must be between 0 and 600 seconds")
    if args.history_events <= 0 or args.rate <= 0 or args.batch_events <= 0:
        raise SystemExit("--history-events, --rate and --batch-events must be positive")
    if args.probes_per_second <= 0:
        raise SystemExit("--probes-per-second must be positive")

    client = loopback_client(args.redis_url)
    # keys an interrupted earlier run left behind (they would slow every restart's load)
    delete_prefix(client, "bench:")
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    keys = RedisKeys(prefix)
    stream = RedisEventStream(client, keys)
    # the load must never meet the per-key limiter (probes poll every few ms)
    limit = int(args.rate / args.batch_events + args.probes_per_second * 2000 / args.poll_ms)
    env = benchmark_env(args.redis_url, prefix, BENCH_KEY, max(limit * 4, 1000))
    server = evaluator = None
    try:
        with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
            work = Path(tmp)
            history = load_history(args, env, client, keys, work)
            mib = 2**20
            grown = history.memory_after - history.memory_before
            print(
                f"history: {history.events:,} events, {history.devices:,} devices; generated "
                f"in {history.generate_s:.1f} s; published in {history.publish_s:.1f} s "
                f"({history.events / history.publish_s:,.0f} events/s); evaluated in "
                f"{history.evaluate_s:.1f} s ({history.events / history.evaluate_s:,.0f} "
                "events/s, lag 0); history trimmed from the stream; Redis's append-only "
                f"file rewrite finished {history.persistence_s:.1f} s before the load"
            )
            per_million = grown / history.devices * 1_000_000
            mem = history.keys
            state_per_million = mem.state_bytes / history.devices * 1_000_000
            print(
                f"redis used_memory (whole server): {history.memory_before / mib:,.1f} MiB "
                f"before, {history.memory_published / mib:,.1f} MiB published, "
                f"{history.memory_after / mib:,.1f} MiB evaluated: +{grown / mib:,.1f} MiB = "
                f"{per_million / mib:,.0f} MiB per million devices"
            )
            print(
                f"the benchmark's keys (MEMORY USAGE): evaluator state and memberships "
                f"{mem.state_bytes / mib:,.1f} MiB in {mem.state_keys:,} keys = "
                f"{state_per_million / mib:,.0f} MiB per million devices; event stream "
                f"{mem.stream_bytes / mib:,.1f} MiB; idempotency keys ~{mem.seen_bytes / mib:,.1f}"
                f" MiB ({mem.seen_keys:,}, expire after AUDIENCES_DEDUP_TTL)"
            )

            now = utc_now().strftime("%Y-%m-%dT%H:%M:%S")
            client.hset(keys.batch_meta, mapping={"loaded_at": now, "as_of": now})
            port = free_port()
            server = start_server(env, port, args.workers)
            with (work / "stream.log").open("w") as log:
                evaluator = subprocess.Popen(
                    [str(BIN / "audiences"), "stream", "--batch-size", str(args.stream_batch_size)],
                    cwd=PROJECT_DIR,
                    env=env,
                    stdout=log,
                    stderr=log,
                )
            load, probes, max_lag = run(measured_phase(port, args, history, stream))
            if evaluator.poll() is not None:
                raise SystemExit(
                    f"audiences stream stopped during the run:\n"
                    f"{(work / 'stream.log').read_text()[-3000:]}"
                )
            end_lag = stream.lag(EVALUATOR_GROUP)
            stop_process(evaluator)
            # the evaluator's own account of the run (a line every 10 s: batches, persons,
            # where the time went)
            for line in (work / "stream.log").read_text().splitlines():
                if " last " in line:
                    print("evaluator:", line)

        accepted = load.statuses.get(202, 0) * args.batch_events + 4 * (
            probes.started - probes.failed
        )
        ms = [v * 1000 for v in probes.latencies]
        post_ms = [v * 1000 for v in load.latencies]
        print(
            f"load: {accepted:,} events in {load.elapsed:.1f} s = "
            f"{accepted / load.elapsed:,.0f} events/s (target {args.rate:,}/s, "
            f"{args.batch_events} per POST); POST latency from due time p50 "
            f"{percentile(post_ms, 0.5):.1f} ms, p99 {percentile(post_ms, 0.99):.1f} ms; "
            f"statuses {dict(sorted(load.statuses.items()))}"
        )
        print(f"evaluator lag: at most {max_lag:,} entries during the run, {end_lag:,} at the end")
        if not ms:
            raise SystemExit(
                f"no probe saw {SEGMENT} ({probes.missed} missed, {probes.failed} failed)"
            )
        figures = (
            f"event -> segment visible: p50 {percentile(ms, 0.5):.0f} ms, "
            f"p99 {percentile(ms, 0.99):.0f} ms, max {max(ms):.0f} ms over {len(ms)} probes "
            f"({probes.missed} missed, {probes.failed} failed)"
        )
        print(figures)
        if args.record:
            command = "python benchmarks/bench_realtime_latency.py " + shlex.join(
                command_args(sys.argv[1:])
            )
            text = (
                f"{figures}; {accepted / load.elapsed:,.0f} events/s achieved "
                f"(target {args.rate:,}); evaluator lag max {max_lag:,}, end {end_lag:,}; "
                f"history {history.events:,} events ({history.devices:,} devices) evaluated at "
                f"{history.events / history.evaluate_s:,.0f} events/s; Redis: evaluator state "
                f"and memberships {state_per_million / mib:,.0f} MiB per million devices, "
                f"used_memory +{per_million / mib:,.0f} MiB per million devices with the "
                f"stream and idempotency keys"
            )
            append_result(result_row(command, f"{text}. {args.note}" if args.note else text))
    finally:
        stop_process(evaluator)
        stop_process(server)
        delete_prefix(client, prefix)


if __name__ == "__main__":
    main()
