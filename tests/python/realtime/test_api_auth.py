"""Keys, origins, CORS and rate limits of the real-time API, over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
from realtime_http import (
    OTHER_SERVER_KEY,
    PUBLISHABLE_KEY,
    PUBLISHABLE_ORIGIN,
    SERVER_KEY,
    seed_batch,
)

from audiences.realtime.settings import RealtimeSettings, RealtimeSettingsError

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
EVENTS = {
    "events": [
        {"event_id": "e1", "anonymous_id": "a1", "event_type": "page_view",
         "occurred_at": "2026-11-24T11:00:00"}
    ]
}  # fmt: skip


@pytest.fixture
def seeded_api(make_api, redis_client, keys):
    seed_batch(
        redis_client, keys, NOW - timedelta(hours=1), people={"a1": ["s1"]}, ids={"a1": "a1"}
    )
    return make_api(clock=lambda: NOW)


def call(api: str, method: str, headers: dict) -> requests.Response:
    if method == "POST":
        return requests.post(f"{api}/v1/events", json=EVENTS, headers=headers, timeout=10)
    return requests.get(f"{api}/v1/profiles/a1/segments", headers=headers, timeout=10)


def bearer(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        (bearer("sk_wrong"), 401),
        (bearer(SERVER_KEY[:-1]), 401),  # a prefix of a real key
        ({"Authorization": f"Basic {SERVER_KEY}"}, 401),
        ({"Authorization": "Bearer "}, 401),
        (bearer(SERVER_KEY), None),
        (bearer(OTHER_SERVER_KEY), None),
        ({**bearer(PUBLISHABLE_KEY), "Origin": PUBLISHABLE_ORIGIN}, None),
        ({**bearer(PUBLISHABLE_KEY), "Origin": "https://SHOP.example.com:443"}, None),
        ({**bearer(PUBLISHABLE_KEY), "Origin": "https://evil.example.com"}, 403),
        ({**bearer(PUBLISHABLE_KEY), "Origin": "http://shop.example.com"}, 403),
        (bearer(PUBLISHABLE_KEY), 403),  # no Origin, and this server is not the shop
    ],
)
def test_auth_matrix(seeded_api, method, headers, status):
    response = call(seeded_api, method, headers)
    expected = status or (202 if method == "POST" else 200)
    assert response.status_code == expected, response.text
    if expected == 401:
        assert response.json()["error"] == "unauthorized"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    if expected == 403:
        assert response.json()["error"] == "origin_not_allowed"


def test_server_and_publishable_keys_see_different_bodies(seeded_api):
    server = call(seeded_api, "GET", bearer(SERVER_KEY)).json()
    browser = call(
        seeded_api, "GET", {**bearer(PUBLISHABLE_KEY), "Origin": PUBLISHABLE_ORIGIN}
    ).json()
    assert server == {"person_id": "a1", "segments": ["s1"], "updated_at": "2026-11-24T11:00:00Z"}
    assert browser == {"segments": ["s1"], "updated_at": "2026-11-24T11:00:00Z"}


def test_cors_names_the_exact_allowed_origin_never_a_wildcard(seeded_api):
    browser = {**bearer(PUBLISHABLE_KEY), "Origin": PUBLISHABLE_ORIGIN}
    for method in ("GET", "POST"):
        response = call(seeded_api, method, browser)
        assert response.headers["Access-Control-Allow-Origin"] == PUBLISHABLE_ORIGIN
        assert "Origin" in response.headers["Vary"]
    foreign = call(
        seeded_api, "GET", {**bearer(PUBLISHABLE_KEY), "Origin": "https://evil.example.com"}
    )
    assert "Access-Control-Allow-Origin" not in foreign.headers
    server = call(seeded_api, "GET", bearer(SERVER_KEY))
    assert "Access-Control-Allow-Origin" not in server.headers


@pytest.mark.parametrize("path", ["/v1/events", "/v1/profiles/a1/segments"])
def test_preflight_is_answered_for_the_allowed_origin_only(seeded_api, path):
    allowed = requests.options(
        f"{seeded_api}{path}",
        headers={
            "Origin": PUBLISHABLE_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
        timeout=10,
    )
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == PUBLISHABLE_ORIGIN
    assert allowed.headers["Access-Control-Allow-Methods"] == "GET, POST, OPTIONS"
    assert allowed.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"
    assert allowed.headers["Access-Control-Max-Age"] == "600"
    refused = requests.options(
        f"{seeded_api}{path}",
        headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "GET"},
        timeout=10,
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_the_rate_limit_is_per_key_per_second(make_api, redis_client, keys):
    seed_batch(redis_client, keys, NOW, people={"a1": ["s1"]}, ids={"a1": "a1"})
    clock = {"now": NOW}
    api = make_api(clock=lambda: clock["now"], api_rate_limit=3)
    statuses = [call(api, "GET", bearer(SERVER_KEY)).status_code for _ in range(3)]
    assert statuses == [200, 200, 200]
    over = call(api, "POST", bearer(SERVER_KEY))  # posts and reads share the key's budget
    assert over.status_code == 429
    assert over.headers["Retry-After"] == "1"
    assert over.json()["error"] == "rate_limited"
    assert "AUDIENCES_API_RATE_LIMIT" in over.json()["message"]
    assert redis_client.xlen(keys.events) == 0  # the refused batch was not written
    # another key has its own budget
    assert call(api, "GET", bearer(OTHER_SERVER_KEY)).status_code == 200
    # the next second starts a new window
    clock["now"] = NOW + timedelta(seconds=1)
    assert call(api, "GET", bearer(SERVER_KEY)).status_code == 200


def test_a_429_reaches_the_browser_with_cors_headers(make_api, redis_client, keys):
    seed_batch(redis_client, keys, NOW, ids={"a1": "a1"})
    api = make_api(clock=lambda: NOW, api_rate_limit=1)
    browser = {**bearer(PUBLISHABLE_KEY), "Origin": PUBLISHABLE_ORIGIN}
    assert call(api, "GET", browser).status_code == 200
    limited = call(api, "GET", browser)
    assert limited.status_code == 429
    assert limited.headers["Access-Control-Allow-Origin"] == PUBLISHABLE_ORIGIN
    assert "Retry-After" in limited.headers["Access-Control-Expose-Headers"]


def test_keys_are_never_logged_nor_stored(make_api, redis_client, keys, caplog):
    caplog.set_level("DEBUG")
    seed_batch(redis_client, keys, NOW, ids={"a1": "a1"})
    api = make_api(clock=lambda: NOW)
    for headers in (
        bearer(SERVER_KEY),
        bearer("sk_guess_that_is_wrong"),
        {**bearer(PUBLISHABLE_KEY), "Origin": PUBLISHABLE_ORIGIN},
        {**bearer(PUBLISHABLE_KEY), "Origin": "https://evil.example.com"},
    ):
        call(api, "GET", headers)
        call(api, "POST", headers)
    for secret in (SERVER_KEY, PUBLISHABLE_KEY, "sk_guess_that_is_wrong"):
        assert secret not in caplog.text
        names = list(redis_client.scan_iter(match=f"{keys.prefix}*", count=1000))
        assert names and not any(secret in name for name in names)
        assert not any(redis_client.type(n) == "string" and redis_client.get(n) == secret
                       for n in names)  # fmt: skip


# --- the settings behind the keys -------------------------------------------------------------


def test_settings_parse_the_key_lists_and_hide_every_secret(monkeypatch):
    monkeypatch.setenv("AUDIENCES_SERVER_KEYS", " sk_one , sk_two,")
    monkeypatch.setenv(
        "AUDIENCES_PUBLISHABLE_KEYS", "pk_a@https://Shop.Example.com/,pk_b@http://127.0.0.1:8080"
    )
    monkeypatch.setenv("AUDIENCES_REDIS_URL", "redis://user:pw-123@redis.internal:6380/2")
    monkeypatch.setenv("AUDIENCES_STALE_AFTER", "7200")
    settings = RealtimeSettings.from_env()
    assert [k.get_secret_value() for k in settings.server_keys] == ["sk_one", "sk_two"]
    assert [(p.key.get_secret_value(), p.origin) for p in settings.publishable_keys] == [
        ("pk_a", "https://shop.example.com"),
        ("pk_b", "http://127.0.0.1:8080"),
    ]
    assert settings.stale_after == 7200
    assert settings.redis_url_redacted == "redis://user:***@redis.internal:6380/2"
    shown = repr(settings) + str(settings)
    for secret in ("sk_one", "sk_two", "pk_a", "pk_b", "pw-123"):
        assert secret not in shown


def test_settings_defaults(monkeypatch):
    for name in ("REDIS_URL", "REDIS_PREFIX", "SERVER_KEYS", "PUBLISHABLE_KEYS", "STALE_AFTER",
                 "API_RATE_LIMIT", "MAX_EVENTS_PER_BATCH", "MAX_BODY_BYTES",
                 "MAX_FUTURE_SECONDS", "DEDUP_TTL"):  # fmt: skip
        monkeypatch.delenv(f"AUDIENCES_{name}", raising=False)
    settings = RealtimeSettings.from_env()
    assert settings.redis_url.get_secret_value() == "redis://127.0.0.1:6379/0"
    assert settings.redis_prefix == "aud:"
    assert (settings.server_keys, settings.publishable_keys) == ((), ())
    assert (settings.api_rate_limit, settings.max_events_per_batch) == (200, 500)
    assert (settings.max_body_bytes, settings.max_future_seconds) == (1_000_000, 300)
    assert (settings.stale_after, settings.dedup_ttl) == (26 * 3600, 7 * 86400)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ("pk_ok@https://a.example,pk_secret_1@ftp://b.example", "entry 2: the origin must start"),
        ("pk_ok@https://a.example,pk_secret_1", "entry 2: expected key@https://origin"),
        ("pk_secret_1@https://a.example/path", "entry 1: the origin must be scheme://host"),
        ("pk_ok@https://a.example,,@https://b.example", "entry 2: expected key@https://origin"),
        ("pk secret_1@https://a.example", "entry 1: a key must be one word"),
    ],
)
def test_a_malformed_publishable_entry_is_named_by_position_never_by_key(
    monkeypatch, entries, message
):
    monkeypatch.setenv("AUDIENCES_PUBLISHABLE_KEYS", entries)
    with pytest.raises(RealtimeSettingsError) as raised:
        RealtimeSettings.from_env()
    assert message in str(raised.value)
    assert str(raised.value).startswith("invalid real-time settings: AUDIENCES_PUBLISHABLE_KEYS")
    assert "secret_1" not in str(raised.value)
    # constructing the model directly does not echo the input either
    with pytest.raises(ValueError) as direct:
        RealtimeSettings()
    assert "secret_1" not in str(direct.value)


def test_a_key_cannot_be_both_server_and_publishable(monkeypatch):
    monkeypatch.setenv("AUDIENCES_SERVER_KEYS", "sk_a,shared_secret_9")
    monkeypatch.setenv(
        "AUDIENCES_PUBLISHABLE_KEYS", "pk_x@https://a.example,shared_secret_9@https://b.example"
    )
    with pytest.raises(RealtimeSettingsError) as raised:
        RealtimeSettings.from_env()
    assert str(raised.value) == (
        "invalid real-time settings: AUDIENCES_PUBLISHABLE_KEYS entry 2 is also in "
        "AUDIENCES_SERVER_KEYS: a publishable key is public, use another key"
    )


def test_a_publishable_key_may_serve_several_origins(make_api, redis_client, keys):
    seed_batch(redis_client, keys, NOW, people={"a1": ["s1"]}, ids={"a1": "a1"})
    api = make_api(
        clock=lambda: NOW,
        publishable_keys=f"{PUBLISHABLE_KEY}@https://example.com,{PUBLISHABLE_KEY}@https://www.example.com",
    )
    for origin, status in (
        ("https://example.com", 200),
        ("https://www.example.com", 200),
        ("https://shop.example.com", 403),
    ):
        response = call(api, "GET", {**bearer(PUBLISHABLE_KEY), "Origin": origin})
        assert response.status_code == status
        if status == 200:
            assert response.headers["Access-Control-Allow-Origin"] == origin
