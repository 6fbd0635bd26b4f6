"""The lookup served ahead of FastAPI (api.LookupRoute) answers as FastAPI's route does:
the same body whichever of the two answers, ids percent-decoded, other methods and paths
left to FastAPI. Real HTTP, real Redis."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import requests
import uvicorn
from realtime_http import PUBLISHABLE_KEY, PUBLISHABLE_ORIGIN, SERVER_KEY, free_socket, seed_batch

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
SERVER = {"Authorization": f"Bearer {SERVER_KEY}"}
EXPECTED = {"person_id": "p 1", "segments": ["s1"], "updated_at": "2026-11-24T12:00:00Z"}


def test_an_id_is_percent_decoded_and_other_methods_go_to_fastapi(make_api, redis_client, keys):
    ids = {"p 1": "p 1", "anon-ä 1": "p 1", "a/b": "p 1"}
    seed_batch(redis_client, keys, NOW, people={"p 1": ["s1"]}, ids=ids)
    api = make_api(clock=lambda: NOW)
    found = requests.get(f"{api}/v1/profiles/anon-%C3%A4%201/segments", headers=SERVER, timeout=10)
    assert found.status_code == 200 and found.json() == EXPECTED
    # %2F is decoded into the path: no route has a slash in the id (as before, FastAPI's 404)
    slashed = requests.get(f"{api}/v1/profiles/a%2Fb/segments", headers=SERVER, timeout=10)
    assert slashed.status_code == 404 and slashed.json() == {"detail": "Not Found"}
    plain = requests.get(f"{api}/v1/profiles/p%201/segments", headers=SERVER, timeout=10)
    assert plain.status_code == 200 and plain.json() == EXPECTED
    head = requests.head(f"{api}/v1/profiles/p%201/segments", headers=SERVER, timeout=10)
    assert head.status_code == 405  # FastAPI's answer for a GET route, as before
    slash = requests.get(
        f"{api}/v1/profiles/p%201/segments/", headers=SERVER, timeout=10, allow_redirects=False
    )
    assert slash.status_code == 307  # FastAPI's redirect to the route without the slash
    empty = requests.get(f"{api}/v1/profiles//segments", headers=SERVER, timeout=10)
    assert empty.status_code == 404


def test_a_browser_lookup_and_its_refusals_carry_cors_headers(make_api, redis_client, keys):
    seed_batch(redis_client, keys, NOW, people={"p 1": ["s1"]}, ids={"p 1": "p 1"})
    api = make_api(clock=lambda: NOW)
    browser = {"Authorization": f"Bearer {PUBLISHABLE_KEY}", "Origin": PUBLISHABLE_ORIGIN}
    found = requests.get(f"{api}/v1/profiles/p%201/segments", headers=browser, timeout=10)
    missing = requests.get(f"{api}/v1/profiles/nobody/segments", headers=browser, timeout=10)
    unauthorized = requests.get(
        f"{api}/v1/profiles/p%201/segments", headers={"Origin": PUBLISHABLE_ORIGIN}, timeout=10
    )
    assert found.json() == {"segments": ["s1"], "updated_at": "2026-11-24T12:00:00Z"}
    assert (found.status_code, missing.status_code, unauthorized.status_code) == (200, 404, 401)
    for answer in (found, missing, unauthorized):
        assert answer.headers["Access-Control-Allow-Origin"] == PUBLISHABLE_ORIGIN
        assert answer.headers["Access-Control-Expose-Headers"] == "Retry-After"
        assert answer.headers["Vary"] == "Origin"
        assert answer.headers["Content-Type"] == "application/json"
    assert unauthorized.headers["WWW-Authenticate"] == 'Bearer realm="audiences"'
    server = requests.get(f"{api}/v1/profiles/p%201/segments", headers=SERVER, timeout=10)
    assert server.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in server.headers


def test_under_a_root_path_fastapis_route_gives_the_same_answer(redis_url, redis_client, keys):
    from audiences.realtime.api import create_app
    from audiences.realtime.settings import RealtimeSettings

    seed_batch(redis_client, keys, NOW, people={"p 1": ["s1"]}, ids={"p 1": "p 1"})
    settings = RealtimeSettings(
        redis_url=redis_url, redis_prefix=keys.prefix, server_keys=SERVER_KEY
    )
    sock = free_socket()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, clock=lambda: NOW),
            log_level="warning",
            lifespan="off",
            root_path="/audiences",
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        # a proxy strips the prefix; uvicorn puts it back in scope["path"] and "root_path"
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        answer = requests.get(f"{base}/v1/profiles/p%201/segments", headers=SERVER, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json() == EXPECTED
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["Vary"] == "Origin"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()
