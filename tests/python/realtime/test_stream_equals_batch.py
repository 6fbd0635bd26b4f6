"""The one promise of the real-time path: for the same events, the memberships the streaming
evaluator holds at instant T equal what `dbt build --vars "{as_of: T}"` computes.

Hypothesis generates devices whose events straddle every boundary of the test rules
(fixtures/stream_segments.yml: window edges to the second, 30-minute session gaps and
sequence bounds, distinct sessions and days), with logins mid-stream, shared devices, a user
on two devices, tracker sessions, campaign changes, duplicate deliveries and late events. The
events go to a DuckDB raw.events (built once per example by dbt) and through the real Redis
stream to the evaluator, which sees them in three batches at T - 2 h, T - 1 h and T (so
memberships that change with time are re-evaluated through the due set), then both answers
are compared for every streamable segment.
"""

from __future__ import annotations

import random
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from dbt_support import PROJECT_DIR, create_raw_tables, run_dbt_command
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from audiences.realtime.evaluator import Evaluator, load_rules
from audiences.realtime.stream import RedisEventStream

T = datetime(2026, 11, 24, 0, 0, 0)
FIXTURE = Path(__file__).parent / "fixtures" / "stream_segments.yml"
WINDOWS = [300, 600, 1800, 3600, 7200, 10800, 21600, 86400, 88200, 259200]
OFFSETS = sorted({0, 1, 2} | {w + d for w in WINDOWS for d in (-1, 0, 1)})
GAPS = [0, 1, 299, 300, 301, 599, 600, 601, 1799, 1800, 1800, 1801, 3600]
OLD = T - timedelta(days=3) + timedelta(hours=1)  # older events arrive first, in order

EVENT_TYPES = ["page_view", "page_view", "add_to_cart", "purchase", "begin_checkout", "cta_click"]
COLUMNS = [
    "event_id", "anonymous_id", "user_id", "session_id", "event_type", "page_type", "page_url",
    "product_id", "product_category", "engaged_seconds", "search_term", "scroll_depth_percent",
    "device_type", "browser", "os", "country", "region", "city", "referrer", "utm_source",
    "utm_medium", "utm_campaign", "occurred_at", "loaded_at",
]  # fmt: skip


def device_events(index: int, rng: random.Random) -> list[dict]:
    """One device's events, from a seed hypothesis draws (a few bytes per device, so one
    example can hold a hundred devices: dbt costs the same for 100 events or 2,000)."""
    anon = f"a{index}"
    events: list[dict] = []
    for _visit in range(rng.randint(1, 3)):
        # mostly on a window edge, to the second
        before = rng.choice(OFFSETS) if rng.random() < 0.7 else rng.randint(0, 4 * 86400)
        at = T - timedelta(seconds=before)
        tracker = rng.choice([None, None, f"ts{index}"])
        for k in range(rng.randint(1, 6)):
            if k:
                at += timedelta(seconds=rng.choice(GAPS))
            source = rng.choice([None, None, None, "google", "meta", " "])
            events.append(
                {
                    "event_id": f"{anon}e{len(events)}",
                    "anonymous_id": anon,
                    "user_id": None,
                    "session_id": tracker,
                    "event_type": rng.choice(EVENT_TYPES),
                    "page_type": rng.choice(["product", "product", "category", "home"]),
                    "page_url": rng.choice(["/sale/1", "/p/1", "/SALE/2", None]),
                    "product_id": rng.choice(["p1", "p2", None]),
                    "product_category": rng.choice(["shoes", "Shoes", "books", None]),
                    "device_type": rng.choice(["mobile", "MOBILE", "desktop"]),
                    "utm_source": source,
                    "utm_medium": "cpc" if source else None,
                    "utm_campaign": rng.choice(["c1", "c2"]) if source else None,
                    "occurred_at": at,
                }
            )
    identity = rng.choice(["anonymous", "login", "shared", "cross_device"])
    if identity != "anonymous":
        login = rng.randrange(len(events))
        user = {"login": f"u{index}", "shared": f"u{index}", "cross_device": "u_shared"}[identity]
        events[login]["user_id"] = user
        if identity == "shared":
            other = rng.randrange(len(events))
            if other != login:
                events[other]["user_id"] = f"u{index}b"
    return events


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[dict], int]:
    """Deliveries in order (duplicates included): old events first, the rest shuffled."""
    seeds = draw(st.lists(st.integers(0, 2**32 - 1), min_size=100, max_size=140))
    events = [e for i, seed in enumerate(seeds) for e in device_events(i, random.Random(seed))]
    old = sorted((e for e in events if e["occurred_at"] < OLD), key=lambda e: e["occurred_at"])
    rest = [e for e in events if e["occurred_at"] >= OLD]
    order = random.Random(draw(st.integers(0, 2**32 - 1)))
    order.shuffle(rest)
    duplicates = [order.choice(events) for _ in range(draw(st.integers(0, 20)))]
    return old + rest + duplicates, len(old)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the dbt project whose custom segments are the test rules."""
    root = tmp_path_factory.mktemp("stream_project")
    target = root / "project"
    shutil.copytree(
        PROJECT_DIR,
        target,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", ".test", "target", "logs", "*.duckdb", "__pycache__", "tests"
        ),
    )
    shutil.copy(FIXTURE, target / "segments" / "custom_segments.yml")
    return target


def _batch_members(project: Path, work: Path, deliveries: list[dict]) -> set[tuple[str, str]]:
    # the same file and dbt target path for every example: the same profile, vars and project
    # let dbt parse the project once and then partially (only what changed: nothing)
    work.mkdir(exist_ok=True)
    db = work / "stream_batch.duckdb"
    db.unlink(missing_ok=True)
    Path(f"{db}.wal").unlink(missing_ok=True)
    create_raw_tables(db)
    rows = []
    for n, event in enumerate(deliveries):
        row = {c: event.get(c) for c in COLUMNS}
        row["loaded_at"] = T + timedelta(seconds=n)
        rows.append(tuple(row[c] for c in COLUMNS))
    con = duckdb.connect(str(db))
    try:
        con.executemany(
            f"insert into raw.events ({', '.join(COLUMNS)}) "
            f"values ({', '.join('?' * len(COLUMNS))})",
            rows,
        )
    finally:
        con.close()
    run_dbt_command(
        "build",
        "--project-dir",
        str(project),
        "-s",
        "+custom_segments",
        # data tests and unit tests left out: this test compares memberships; the unit tests'
        # answers do not depend on the warehouse (`make build-test-warehouse` runs them all)
        "--exclude-resource-type",
        "test",
        "--exclude-resource-type",
        "unit_test",
        "--vars",
        f"{{as_of: '{T.isoformat()}'}}",
        "--quiet",
        db=db,
        work_dir=work,
    )
    con = duckdb.connect(str(db), read_only=True)
    try:
        # the batch cache's view: custom_segments minus the holdout (decision 0004),
        # computed here in SQL, independently of the evaluator's Python
        return set(
            con.execute(
                """
                select person_id, segment_key
                from analytics_segments.custom_segments
                where not (
                    mod(cast('0x' || substr(md5(person_id || '|' || segment_key), 1, 8) as bigint),
                        10000) / 100.0 < 10
                )
                """
            ).fetchall()
        )
    finally:
        con.close()


def _stream_members(redis_client, keys, deliveries: list[dict], first: int, project: Path) -> set:
    rules = load_rules(project)
    stream = RedisEventStream(redis_client, keys)
    clock = {"now": T - timedelta(hours=2)}
    evaluator = Evaluator(redis_client, keys, stream, rules, clock=lambda: clock["now"])
    evaluator.start()
    middle = first + (len(deliveries) - first) // 2
    thirds = [deliveries[:first], deliveries[first:middle], deliveries[middle:]]
    for chunk, now in zip(thirds, [T - timedelta(hours=2), T - timedelta(hours=1), T], strict=True):
        clock["now"] = now
        for event in chunk:
            redis_client.delete(keys.seen(event["event_id"]))  # a re-delivery after the TTL
            stream.publish([{**event, "occurred_at": event["occurred_at"].isoformat()}])
        evaluator.run(once=True, count=50, block_ms=0)
    clock["now"] = T
    evaluator.run(once=True, count=50, block_ms=0)  # the persons due by T
    members = set()
    streamable = {s.name for s in rules.streamable}
    for name in redis_client.scan_iter(match=keys.live_segments("*"), count=1000):
        person = name[len(keys.live_segments("")) :]
        members |= {(person, key) for key in redis_client.smembers(name) if key in streamable}
    return members


@settings(
    max_examples=4,
    deadline=None,
    # one dbt build per example (~20 s): no shrinking, the failure message lists the
    # memberships that differ and the example is replayed first on the next run
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
)  # fmt: skip
@given(scenario=scenarios())
def test_stream_memberships_equal_the_batch_at_T(scenario, project, redis_client, keys):
    deliveries, old = scenario
    # the old events are delivered first, in the first batch (before the horizon moves)
    first = max(len(deliveries) // 3, old)
    for name in redis_client.scan_iter(match=f"{keys.prefix}*", count=1000):
        redis_client.delete(name)
    batch = _batch_members(project, project.parent / "batch", deliveries)
    stream = _stream_members(redis_client, keys, deliveries, first, project)
    rules = load_rules(project)
    compared = {s.name for s in rules.streamable if not s.batch_references}
    assert compared == {s["name"] for s in _fixture_segments()}
    batch = {(p, k) for p, k in batch if k in compared}
    assert stream == batch, _diff(stream, batch)
    assert batch, "the generated scenarios should produce members"


def _fixture_segments() -> list[dict]:
    import yaml

    doc = yaml.safe_load(FIXTURE.read_text())
    return doc["models"][0]["config"]["meta"]["custom_segments"]


def _diff(stream: set, batch: set) -> str:
    return (
        f"only in the stream: {sorted(stream - batch)}\nonly in the batch: {sorted(batch - stream)}"
    )
