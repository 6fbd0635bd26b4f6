"""Benchmark: the real-time lookup API (`GET /v1/profiles/{id}/segments`) at a target rate,
and the Redis memory the segment cache takes per million profiles.

Usage (from the project root, after `make setup` and `bash scripts/redis_up.sh`):

    .venv/bin/python benchmarks/bench_realtime_api.py --rate 2000 --duration 60 --profiles 1000000 \
        [--workers 2]

Steps:
  1. INFO memory, seed N profiles under a private key prefix the way the `redis` destination
     and the evaluator would (id -> person for an anonymous_id and, for half of them, a
     user_id; 3 batch segment keys per person; 1 live key for a tenth), INFO memory again:
     the difference, scaled to one million profiles.
  2. Rewrite Redis's append-only file and wait (the seeding would otherwise trigger a
     rewrite, a fork, during the load), then start `audiences serve` in its own process on
     a free 127.0.0.1 port.
  3. Open-loop load: request i is due at start + i / rate, sent over keep-alive connections
     (--connections); latency is measured from the due time, so a server that falls behind
     shows it (no coordinated omission). Bounded by --duration (at most 600 s).
  4. p50 / p99 / max latency, achieved throughput, non-200 answers; the seeded keys are
     deleted and the server stopped.

Loopback only. Prints the results; it does not write benchmarks/RESULTS.md (results are
recorded on a quiet machine).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
import uuid

import redis
from realtime_load import (
    CpuMeter,
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

from audiences.realtime.keys import RedisKeys

SEGMENTS = ["high_value", "rfm_champions", "lapsed_customers", "persona_explorer",
            "viewed_product_3x_24h", "viewed_then_abandoned_30m", "likely_to_buy"]  # fmt: skip
STREAMABLE = ["viewed_product_3x_24h", "viewed_then_abandoned_30m"]
BENCH_KEY = "sk_bench_" + uuid.uuid4().hex[:12]


def seed(client: redis.Redis, keys: RedisKeys, profiles: int, batch: int = 5000) -> list[str]:
    """Seed ``profiles`` people; return the anonymous ids to look up."""
    rng = random.Random(7)
    now = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    client.hset(keys.batch_meta, mapping={"loaded_at": now, "as_of": now})
    client.sadd(keys.streamable, *STREAMABLE)
    ids = []
    for start in range(0, profiles, batch):
        pipe = client.pipeline(transaction=False)
        for n in range(start, min(start + batch, profiles)):
            anon = f"anon-{n:08d}-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
            person = f"user-{n:08d}" if n % 2 == 0 else anon
            ids.append(anon)
            pipe.set(keys.batch_person_of(anon), person)
            if person != anon:
                pipe.set(keys.batch_person_of(person), person)
            pipe.sadd(keys.batch_segments(person), *rng.sample(SEGMENTS, 3))
            if n % 10 == 0:
                pipe.sadd(keys.live_segments(person), STREAMABLE[0])
                pipe.set(keys.live_updated_at(person), now)
        pipe.execute()
    return ids


async def load(
    port: int,
    ids: list[str],
    rate: int,
    duration: float,
    connections: int,
    meter: CpuMeter | None = None,
):
    total = int(rate * duration)
    rng = random.Random(11)
    chosen = [rng.choice(ids) for _ in range(total)]
    if meter is not None:
        meter.start()
    result = await open_loop(
        port,
        BENCH_KEY,
        lambda i: ("GET", f"/v1/profiles/{chosen[i]}/segments", None),
        total,
        rate,
        connections,
    )
    cpu = meter.stop() if meter is not None else None
    return result.latencies, result.statuses, result.elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=2000, help="target lookups per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (<= 600)")
    parser.add_argument("--profiles", type=int, default=100_000, help="profiles to seed")
    parser.add_argument("--connections", type=int, default=64, help="keep-alive connections")
    parser.add_argument("--workers", type=int, default=1, help="`audiences serve --workers`")
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("AUDIENCES_REDIS_URL", "redis://127.0.0.1:6379/0"),
        help="a Redis on this machine (loopback only)",
    )
    args = parser.parse_args()
    if not 0 < args.duration <= 600:
        raise SystemExit("--duration must be between 0 and 600 seconds")
    client = loopback_client(args.redis_url)
    # keys an interrupted earlier run left behind (they would slow every restart's load)
    delete_prefix(client, "bench:")
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    keys = RedisKeys(prefix)
    server = None
    try:
        before = used_memory(client)
        started = time.perf_counter()
        ids = seed(client, keys, args.profiles)
        seeded_in = time.perf_counter() - started
        after = used_memory(client)
        per_million = (after - before) / args.profiles * 1_000_000
        print(f"seeded {args.profiles:,} profiles in {seeded_in:.1f} s")
        print(f"append-only file rewritten before the load in {settle_persistence(client):.1f} s")
        print(
            f"redis memory: {after - before:,} bytes; {per_million / 2**20:,.0f} MiB per "
            "million profiles (3 batch segments each, half with a user_id, a tenth live)"
        )

        port = free_port()
        env = benchmark_env(args.redis_url, prefix, BENCH_KEY, max(args.rate * 10, 1000))
        server = start_server(env, port, args.workers)
        run(load(port, ids, 50, 1.0, 4))  # warm-up
        meter = CpuMeter(server.pid, client)
        latencies, statuses, elapsed, cpu = run(
            load(port, ids, args.rate, args.duration, args.connections, meter)
        )
        ms = [v * 1000 for v in latencies]
        print(
            f"lookups: {len(ms):,} in {elapsed:.1f} s = {len(ms) / elapsed:,.0f}/s "
            f"(target {args.rate:,}/s, {args.connections} connections, {args.workers} workers)"
        )
        print(
            f"latency from due time: p50 {percentile(ms, 0.50):.2f} ms, "
            f"p99 {percentile(ms, 0.99):.2f} ms, max {max(ms):.2f} ms, "
            f"mean {statistics.fmean(ms):.2f} ms"
        )
        print(f"statuses: {dict(sorted(statuses.items()))}")
        print(f"CPU per lookup: {cpu.per_request_us(len(ms))}")
        busy = cpu.server + cpu.load_generator + cpu.redis
        print(
            f"CPU busy during the load: {busy / elapsed:.2f} of {os.cpu_count()} cores "
            f"(server {cpu.server / elapsed:.2f}, load generator "
            f"{cpu.load_generator / elapsed:.2f}, Redis {cpu.redis / elapsed:.2f})"
        )
    finally:
        stop_process(server)
        delete_prefix(client, prefix)


if __name__ == "__main__":
    main()
