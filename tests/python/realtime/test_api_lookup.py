"""GET /v1/profiles/{id}/segments over real HTTP against a real Redis: the batch and live
caches combined as docs/realtime.md says, and 503 rather than stale data."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import requests
from realtime_http import (
    PUBLISHABLE_KEY,
    PUBLISHABLE_ORIGIN,
    SERVER_KEY,
    PrivateRedis,
    free_port,
    seed_batch,
    seed_live,
)

from audiences.realtime.keys import RedisKeys

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SERVER = {"Authorization": f"Bearer {SERVER_KEY}"}
BROWSER = {"Authorization": f"Bearer {PUBLISHABLE_KEY}", "Origin": PUBLISHABLE_ORIGIN}


def lookup(api: str, some_id: str, headers=SERVER) -> requests.Response:
    return requests.get(f"{api}/v1/profiles/{some_id}/segments", headers=headers, timeout=10)


@pytest.fixture
def fixed_api(make_api):
    return make_api(clock=lambda: NOW)


def seed_people(redis_client, keys) -> None:
    # u-1 was stitched by the last build from two devices; viewed_product_3x_24h is
    # streamable: the build's answer for it is replaced by the stream's
    seed_batch(
        redis_client,
        keys,
        loaded_at=NOW - timedelta(hours=3),
        people={"u-1": ["rfm_champions", "viewed_product_3x_24h", "high_value"]},
        ids={"u-1": "u-1", "anon-a": "u-1", "anon-b": "u-1", "anon-old": "anon-old"},
    )
    seed_live(
        redis_client,
        keys,
        streamable=["viewed_product_3x_24h", "viewed_then_abandoned_30m"],
        people={"u-1": ["viewed_then_abandoned_30m"]},
        updated_at={"u-1": NOW - timedelta(seconds=5)},
    )


def test_segments_are_batch_minus_streamable_plus_live(fixed_api, redis_client, keys):
    seed_people(redis_client, keys)
    response = lookup(fixed_api, "anon-b")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "person_id": "u-1",
        "segments": ["high_value", "rfm_champions", "viewed_then_abandoned_30m"],
        "updated_at": "2026-11-24T11:59:55Z",  # the live evaluation is later than the load
    }
    assert response.headers["Cache-Control"] == "no-store"
    # a user_id resolves the same way
    assert lookup(fixed_api, "u-1").json()["person_id"] == "u-1"


def test_updated_at_is_the_batch_load_when_the_stream_never_saw_the_person(
    fixed_api, redis_client, keys
):
    seed_people(redis_client, keys)
    redis_client.sadd(keys.batch_segments("anon-old"), "lapsed_customers")
    assert lookup(fixed_api, "anon-old").json() == {
        "person_id": "anon-old",
        "segments": ["lapsed_customers"],
        "updated_at": "2026-11-24T09:00:00Z",
    }


def test_a_person_the_stream_never_evaluated_keeps_the_builds_streamable_keys(
    fixed_api, redis_client, keys
):
    # a `none: true` segment holds without any event: the build found anon-old in it, the
    # stream never saw anon-old, so the build's answer stands
    seed_people(redis_client, keys)
    redis_client.sadd(keys.batch_segments("anon-old"), "viewed_then_abandoned_30m")
    assert lookup(fixed_api, "anon-old").json()["segments"] == ["viewed_then_abandoned_30m"]
    # once the stream has evaluated the person, its answer replaces the build's
    redis_client.set(keys.live_updated_at("anon-old"), "2026-11-24T11:00:00Z")
    assert lookup(fixed_api, "anon-old").json()["segments"] == []


def test_the_streams_stitching_wins_over_the_builds(fixed_api, redis_client, keys):
    # anon-new logged in as u-1 after the build: the stream knows, the build does not
    seed_people(redis_client, keys)
    seed_live(redis_client, keys, streamable=[], ids={"anon-new": "u-1", "anon-a": "u-1"})
    redis_client.set(keys.batch_person_of("anon-new"), "anon-new")
    body = lookup(fixed_api, "anon-new").json()
    assert body["person_id"] == "u-1"
    assert body["segments"] == ["high_value", "rfm_champions", "viewed_then_abandoned_30m"]


def test_a_person_only_the_stream_knows_has_only_live_segments(fixed_api, redis_client, keys):
    seed_people(redis_client, keys)
    seed_live(
        redis_client,
        keys,
        streamable=[],
        people={"anon-z": ["viewed_product_3x_24h"]},
        ids={"anon-z": "anon-z"},
        updated_at={"anon-z": NOW - timedelta(seconds=1)},
    )
    assert lookup(fixed_api, "anon-z").json() == {
        "person_id": "anon-z",
        "segments": ["viewed_product_3x_24h"],
        "updated_at": "2026-11-24T11:59:59Z",
    }


def test_a_member_of_nothing_gets_an_empty_list(fixed_api, redis_client, keys):
    seed_people(redis_client, keys)
    assert lookup(fixed_api, "anon-old").json()["segments"] == []


def test_an_unknown_id_is_a_404(fixed_api, redis_client, keys):
    seed_people(redis_client, keys)
    response = lookup(fixed_api, "anon-never-seen")
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_profile"
    assert response.json()["field"] == "id"


def test_a_publishable_key_reads_segment_keys_only(fixed_api, redis_client, keys):
    seed_people(redis_client, keys)
    response = lookup(fixed_api, "anon-a", headers=BROWSER)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "segments": ["high_value", "rfm_champions", "viewed_then_abandoned_30m"],
        "updated_at": "2026-11-24T11:59:55Z",
    }
    assert "u-1" not in response.text  # no person_id, no PII
    assert response.headers["Access-Control-Allow-Origin"] == PUBLISHABLE_ORIGIN


def test_a_cold_cache_is_a_503_not_a_404(fixed_api, redis_client, keys):
    seed_live(redis_client, keys, streamable=["viewed_product_3x_24h"], ids={"anon-a": "u-1"})
    for some_id in ("anon-a", "anon-never-seen"):
        response = lookup(fixed_api, some_id)
        assert response.status_code == 503
        assert response.json()["error"] == "cache_cold"
        assert "not loaded" in response.json()["message"]
        assert response.headers["Retry-After"] == "30"


def test_a_stale_cache_is_a_503_from_one_second_past_stale_after(make_api, redis_client, keys):
    api = make_api(clock=lambda: NOW, stale_after=3600)
    seed_batch(redis_client, keys, loaded_at=NOW - timedelta(seconds=3600), ids={"a": "a"})
    assert lookup(api, "a").status_code == 200  # exactly stale_after old: still fresh
    seed_batch(redis_client, keys, loaded_at=NOW - timedelta(seconds=3601), ids={"a": "a"})
    response = lookup(api, "a")
    assert response.status_code == 503
    assert response.json()["error"] == "cache_stale"
    assert "2026-11-24T10:59:59Z" in response.json()["message"]
    assert "AUDIENCES_STALE_AFTER" in response.json()["message"]
    assert response.headers["Retry-After"] == "30"


def test_redis_down_is_a_503_and_the_password_is_never_shown(make_api, caplog):
    port = free_port()  # nothing listens there
    api = make_api(redis_url=f"redis://:s3cret-pw@127.0.0.1:{port}/0")
    caplog.set_level("DEBUG")
    started = time.monotonic()
    for response in (
        lookup(api, "anon-a"),
        requests.post(f"{api}/v1/events", json={"events": []}, headers=SERVER, timeout=10),
    ):
        assert response.status_code == 503
        assert response.json()["error"] == "redis_unavailable"
        assert response.headers["Retry-After"] == "5"
        assert "s3cret-pw" not in response.text
    assert time.monotonic() - started < 5  # fails fast, no long retry loop
    health = requests.get(f"{api}/healthz", timeout=10)
    assert health.status_code == 503
    assert health.json()["redis"] == "unreachable"
    assert "s3cret-pw" not in caplog.text
    assert f"redis://:***@127.0.0.1:{port}/0" in caplog.text


def test_healthz_reports_cache_and_evaluator(fixed_api, redis_client, keys):
    health = requests.get(f"{fixed_api}/healthz", timeout=10)
    assert health.status_code == 503
    assert health.json()["cache"] == "cold"
    seed_people(redis_client, keys)
    redis_client.set(keys.heartbeat, "2026-11-24T11:59:58")
    health = requests.get(f"{fixed_api}/healthz", timeout=10)
    assert health.status_code == 200
    assert health.json() == {
        "redis": "ok",
        "cache": "fresh",
        "cache_loaded_at": "2026-11-24T09:00:00Z",
        "cache_as_of": "2026-11-24T09:00:00",
        "evaluator_heartbeat": "2026-11-24T11:59:58Z",
        "evaluator_lag": None,
    }


@pytest.fixture
def private_redis(tmp_path):
    """A Redis server of this test alone (it is stopped and restarted; the shared one is not
    touched). Yields (url, start, stop)."""
    server = PrivateRedis(tmp_path)
    server.start()
    yield server.url, server.start, server.stop
    server.stop_all()


def test_the_api_reconnects_after_a_redis_restart(make_api, private_redis):
    url, start, stop = private_redis
    client = redis.Redis.from_url(url, decode_responses=True)
    prefix_keys = RedisKeys("aud:")
    api = make_api(redis_url=url, redis_prefix="aud:", clock=lambda: NOW)
    seed_batch(client, prefix_keys, NOW, people={"p": ["s1"]}, ids={"p": "p"})
    assert lookup(api, "p").json()["segments"] == ["s1"]
    stop()
    assert lookup(api, "p").status_code == 503
    start()  # restarted empty (no persistence): the cache is cold until the next load
    response = lookup(api, "p")
    assert response.status_code == 503
    assert response.json()["error"] == "cache_cold"
    seed_batch(client, prefix_keys, NOW, people={"p": ["s2"]}, ids={"p": "p"})
    assert lookup(api, "p").json()["segments"] == ["s2"]


def test_create_app_takes_a_given_client_with_decoded_responses(redis_url, redis_client, keys):
    from realtime_http import serving

    from audiences.realtime.api import create_app
    from audiences.realtime.settings import RealtimeSettings

    settings = RealtimeSettings(redis_prefix=keys.prefix, server_keys=SERVER_KEY)
    seed_batch(redis_client, keys, NOW, people={"p": ["s1"]}, ids={"p": "p"})
    with serving(create_app(settings, redis_client=redis_client, clock=lambda: NOW)) as api:
        assert lookup(api, "p").json()["segments"] == ["s1"]
    raw = redis.Redis.from_url(redis_url)  # bytes answers: refused at start
    with pytest.raises(ValueError, match="decode_responses=True"):
        create_app(settings, redis_client=raw)
    raw.close()
