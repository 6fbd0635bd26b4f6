"""Erasure on the real-time path: the sync `realtime_erasures` (destination `redis`,
``load: erasures``) run by the real engine from a real DuckDB mart into a real Redis, the API
answering 404 at once, and the evaluator forgetting what it held (docs/realtime.md,
"Erasure")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import yaml
from dbt_support import write_dbt_artifacts

from audiences.realtime.evaluator import Evaluator, load_rules
from audiences.realtime.evaluator.state_keys import StateKeys
from audiences.realtime.stream import RedisEventStream
from reverse_etl.config import load_project
from reverse_etl.engine import SyncEngine
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = "main_audiences"
TABLE = "aud_realtime_erasures"
T = datetime(2026, 11, 24, 12, 0, 0)


def write_erasures(root, prefix: str, rows: list[tuple[str, str]]) -> None:
    db = root / "warehouse.duckdb"
    wh = DuckDBWarehouse(str(db))
    try:
        wh.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
        wh.execute(f"DROP TABLE IF EXISTS {SCHEMA}.{TABLE}")
        wh.execute(
            f"CREATE TABLE {SCHEMA}.{TABLE} (erased_id VARCHAR, id_type VARCHAR, "
            "erased_at TIMESTAMP)"
        )
        if rows:
            wh.insert_rows(
                f"{SCHEMA}.{TABLE}",
                ["erased_id", "id_type", "erased_at"],
                [[i, kind, "2026-11-20 00:00:00"] for i, kind in rows],
            )
    finally:
        wh.close()
    write_dbt_artifacts(root / "target", {TABLE: SCHEMA})
    sync = {
        "name": "realtime_erasures",
        "model": TABLE,
        "destination": "redis",
        "mode": "upsert",
        "identity": "erased_id",
        "mapping": {"id_type": "id_type"},
        "options": {"prefix": prefix, "load": "erasures"},
    }
    (root / "syncs.yml").write_text(
        yaml.safe_dump({"version": 1, "target": "duckdb", "syncs": [sync]})
    )


def run_sync(root):
    project = load_project(root / "syncs.yml")
    wh = DuckDBWarehouse(str(root / "warehouse.duckdb"))
    try:
        return SyncEngine(project, wh, crash_spec="").run(project.file.syncs[0])
    finally:
        wh.close()


@pytest.fixture
def erasures(tmp_path, keys, redis_url, monkeypatch):
    monkeypatch.setenv("AUDIENCES_REDIS_URL", redis_url)
    monkeypatch.delenv("AUDIENCES_TEST_CRASH_AT", raising=False)

    def load(rows: list[tuple[str, str]]):
        write_erasures(tmp_path, keys.prefix, rows)
        result = run_sync(tmp_path)
        assert result.status == "success", result.error
        return result

    return load


def erasure_stream(client, keys) -> list[str]:
    return [f["id"] for _, f in client.xrange(keys.batch.erasures)]


def test_the_sync_marks_ids_erased_once_and_never_takes_them_back(erasures, redis_client, keys):
    redis_client.set(keys.batch_person_of("u1"), "u1")
    redis_client.set(keys.batch_person_of("d1"), "u1")
    redis_client.set(keys.batch_person_of("u2"), "u2")
    first = erasures([("u1", "user_id"), ("d1", "anonymous_id")])
    assert first.counts["added"] == 2
    assert redis_client.smembers(keys.batch.erased) == {"u1", "d1"}
    assert redis_client.get(keys.batch_person_of("u1")) is None
    assert redis_client.get(keys.batch_person_of("d1")) is None
    assert redis_client.get(keys.batch_person_of("u2")) == "u2"  # not erased
    assert sorted(erasure_stream(redis_client, keys)) == ["d1", "u1"]
    # a load of erasures does not mark the memberships loaded
    assert not redis_client.exists(keys.batch_meta)

    # the next build adds one id, and one id has left the model: nothing is taken back, and
    # the evaluator is told of the new id only
    second = erasures([("u1", "user_id"), ("u3", "user_id")])
    assert (second.counts["added"], second.counts["removed"]) == (1, 0)
    assert redis_client.smembers(keys.batch.erased) == {"u1", "d1", "u3"}
    assert sorted(erasure_stream(redis_client, keys)[2:]) == ["u3"]


def test_the_api_answers_404_for_an_erased_id_and_its_person(
    erasures, make_api, redis_client, keys
):
    from realtime_http import SERVER_KEY, seed_batch

    api = make_api(clock=lambda: T.replace(tzinfo=UTC))
    seed_batch(
        redis_client,
        keys,
        T,
        people={"u1": ["s1"], "u2": ["s1"]},
        ids={"u1": "u1", "d1": "u1", "u2": "u2"},
    )
    # the stream also knows u1 (live keys are the evaluator's, erased a moment later)
    redis_client.set(keys.live_person_of("d9"), "u1")
    headers = {"Authorization": f"Bearer {SERVER_KEY}"}
    assert (
        requests.get(f"{api}/v1/profiles/d9/segments", headers=headers, timeout=10).status_code
        == 200
    )
    erasures([("u1", "user_id")])
    for some_id in ("u1", "d1", "d9"):
        answer = requests.get(f"{api}/v1/profiles/{some_id}/segments", headers=headers, timeout=10)
        assert answer.status_code == 404, some_id
        assert "u1" not in answer.text
    assert requests.get(f"{api}/v1/profiles/u2/segments", headers=headers, timeout=10).json()[
        "segments"
    ] == ["s1"]


RULES = """
version: 2
models:
  - name: custom_segments
    config:
      meta:
        custom_segments:
          - name: viewed_2x_24h
            description: d
            rule:
              events:
                where: {event_type: page_view}
                within: 24h
                at_least: 2
"""


def test_the_evaluator_forgets_an_erased_person_and_drops_their_later_events(
    redis_client, keys, tmp_path
):
    path = tmp_path / "segments.yml"
    path.write_text(RULES)
    rules = load_rules(ROOT, path, overrides={"holdout_percent": 0})
    stream = RedisEventStream(redis_client, keys)
    evaluator = Evaluator(redis_client, keys, stream, rules, clock=lambda: T, consumer="c")
    evaluator.start()
    state = StateKeys(keys)
    n = iter(range(1000))

    def event(anon: str, minutes: int, user: str | None = None) -> dict:
        return {
            "event_id": f"e{next(n)}",
            "anonymous_id": anon,
            "user_id": user,
            "event_type": "page_view",
            "page_type": "product",
            "occurred_at": (T - timedelta(minutes=minutes)).isoformat(),
        }

    def send(*events: dict) -> None:
        stream.publish(list(events))
        evaluator.run(once=True, count=100, block_ms=0)

    # u1 on two devices; a shared device: u1's session 5 h ago, u2's session 2 h ago
    send(
        event("a1", 50, "u1"),
        event("b1", 40, "u1"),
        event("s", 300, "u1"),
        event("s", 120, "u2"),
        event("s", 119),
        event("c2", 30, "u2"),
    )
    assert redis_client.smembers(keys.live_segments("u1")) == {"viewed_2x_24h"}
    assert redis_client.smembers(keys.live_segments("u2")) == {"viewed_2x_24h"}
    assert redis_client.smembers(state.devices_of("u2")) == {"s", "c2"}
    changes_before = redis_client.xlen(keys.changes)

    # the build erases u1 and the devices identified as u1 (the shared one included)
    erased = ["u1", "a1", "b1", "s"]
    redis_client.sadd(keys.batch.erased, *erased)
    for erased_id in erased:
        redis_client.xadd(keys.batch.erasures, {"id": erased_id})
    evaluator.run(once=True, count=100, block_ms=0)

    for some_id in erased:
        assert redis_client.get(keys.live_person_of(some_id)) is None, some_id
        assert redis_client.get(state.device(some_id)) is None, some_id
        assert not redis_client.exists(keys.live_segments(some_id)), some_id
        assert not redis_client.exists(keys.live_updated_at(some_id)), some_id
        assert not redis_client.exists(state.devices_of(some_id)), some_id
        assert redis_client.zscore(state.due, some_id) is None, some_id
    # u2 keeps their own device and is evaluated again without the shared one: 1 view left
    assert redis_client.smembers(state.devices_of("u2")) == {"c2"}
    assert redis_client.smembers(keys.live_segments("u2")) == set()
    new_changes = [f for _, f in redis_client.xrange(keys.changes)][changes_before:]
    assert [(f["person_id"], f["change"]) for f in new_changes] == [("u2", "exited")]

    # later events of an erased device or user are acknowledged and dropped
    send(event("a1", 5), event("c9", 4, "u1"), event("c9", 3, "u1"))
    assert redis_client.get(state.device("a1")) is None
    assert redis_client.get(state.device("c9")) is None
    assert redis_client.get(keys.live_person_of("u1")) is None
    assert stream.lag("evaluator") == 0
    # applied once: the read position moved past the erasures
    assert redis_client.get(state.erasures_read) == redis_client.xrange(keys.batch.erasures)[-1][0]
