"""`audiences serve` as a user runs it: its own process, settings from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from realtime_http import free_port

AUDIENCES = str(Path(sys.executable).with_name("audiences"))


def env(redis_url: str, prefix: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "AUDIENCES_REDIS_URL": redis_url,
        "AUDIENCES_REDIS_PREFIX": prefix,
        "AUDIENCES_SERVER_KEYS": "sk_cli_test_1",
        "AUDIENCES_PUBLISHABLE_KEYS": "",
        **extra,
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_answers_on_the_given_port(redis_url, keys, workers):
    port = free_port()
    proc = subprocess.Popen(
        [
            AUDIENCES,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--workers",
            str(workers),
        ],
        env=env(redis_url, keys.prefix),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert proc.poll() is None, proc.communicate()[1]
                assert time.monotonic() < deadline, "audiences serve did not answer in 30 s"
                time.sleep(0.2)
        assert health.status_code == 503  # nothing loaded under this fresh prefix
        assert health.json()["redis"] == "ok" and health.json()["cache"] == "cold"
        posted = requests.post(
            f"http://127.0.0.1:{port}/v1/events",
            json={"events": [{"event_id": "c1", "anonymous_id": "a", "event_type": "search",
                              "occurred_at": "2026-11-24T10:00:00"}]},
            headers={"Authorization": "Bearer sk_cli_test_1"},
            timeout=10,
        )  # fmt: skip
        assert posted.status_code == 202 and posted.json()["accepted"] == 1
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}" in out
    assert "sk_cli_test_1" not in out + err


def test_serve_refuses_to_start_on_a_malformed_key_naming_its_position(redis_url, keys):
    done = subprocess.run(
        [AUDIENCES, "serve", "--port", str(free_port())],
        env=env(
            redis_url,
            keys.prefix,
            AUDIENCES_PUBLISHABLE_KEYS="pk_fine@https://a.example,pk_leaky_77@shop.example",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "AUDIENCES_PUBLISHABLE_KEYS: entry 2: the origin must start with https://" in done.stderr
    assert "pk_leaky_77" not in done.stdout + done.stderr
