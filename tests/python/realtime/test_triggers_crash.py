"""kill -9 of `audiences triggers` at every crash point, then a restart: each change is
delivered exactly once, or at most once inside the window ADR 0005 cannot see (a request
that left and whose answer was not recorded), or at least once with the same idempotency
key under ``on_unknown: resend``. The forwarder runs as its own process (the real command),
the receivers are the emulators over loopback, Redis is real."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from triggers_support import SECRET, add_change, write_syncs

from audiences.realtime.trigger_outbox import RedisOutboxStore
from audiences_emulators.braze import SANDBOX_KEY, BrazeEmulator
from audiences_emulators.webhook import WebhookConfig, WebhookEmulator

PEOPLE = [f"u-{i}" for i in range(5)]


def _run(redis_url, keys, syncs: Path, crash: str | None, extra_env=None):
    env = {k: v for k, v in os.environ.items() if k != "AUDIENCES_TEST_CRASH_AT"}
    env.update(
        AUDIENCES_REDIS_URL=redis_url,
        AUDIENCES_REDIS_PREFIX=keys.prefix,
        AUDIENCES_WEBHOOK_SECRET=SECRET,
        AUDIENCES_RETRY_BASE_SECONDS="0.01",
        AUDIENCES_RETRY_MAX_WAIT="0.05",
        AUDIENCES_HTTP_TIMEOUT="2",
        **(extra_env or {}),
    )
    if crash:
        env["AUDIENCES_TEST_CRASH_AT"] = crash
    cmd = [
        sys.executable,
        "-c",
        "from audiences.cli import main; main()",
        "triggers",
        "--config",
        str(syncs),
        "--once",
        "--from-start",
        "--lock-ttl",
        "1",
    ]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)


def _changes(redis_client, keys):
    for i, person in enumerate(PEOPLE):
        add_change(
            redis_client, keys, person, "cart_abandoners", "entered", f"2026-11-24T10:0{i}:00"
        )


# (crash point, on_unknown) -> (deliveries per person, final statuses)
WEBHOOK_CASES = {
    # killed after enqueueing, before acknowledging the stream: re-delivered, re-enqueued as a
    # no-op, each sent once
    ("trigger_enqueued:1", "skip"): ([1, 1, 1, 1, 1], {"sent": 5}),
    # killed after acknowledging, before sending: the outbox holds them, each sent once
    ("trigger_acked:1", "skip"): ([1, 1, 1, 1, 1], {"sent": 5}),
    # killed after claiming the 3rd, before its request: indistinguishable from after it, so
    # at most once: never sent
    ("event_wal:3", "skip"): ([1, 1, 0, 1, 1], {"sent": 4, "unknown": 1}),
    # killed after the receiver took the 3rd, before recording it: unknown, not sent again
    ("event_ack:3", "skip"): ([1, 1, 1, 1, 1], {"sent": 4, "unknown": 1}),
    # with resend: the claimed-but-unsent 3rd goes out once after the restart
    ("event_wal:3", "resend"): ([1, 1, 1, 1, 1], {"sent": 5}),
    # with resend: the 3rd arrives twice, with the same idempotency key (at least once)
    ("event_ack:3", "resend"): ([1, 1, 2, 1, 1], {"sent": 5}),
}


@pytest.mark.parametrize(("crash", "on_unknown"), list(WEBHOOK_CASES))
def test_kill_9_then_restart_webhook(redis_url, redis_client, keys, tmp_path, crash, on_unknown):
    want_per_person, want_status = WEBHOOK_CASES[(crash, on_unknown)]
    with WebhookEmulator(config=WebhookConfig(secret=SECRET)) as hook:
        syncs = write_syncs(
            tmp_path,
            [
                {
                    "name": "to_crm",
                    "destination": "webhook",
                    "segments": ["cart_abandoners"],
                    "options": {"url": hook.endpoint, "on_unknown": on_unknown},
                }
            ],
        )
        _changes(redis_client, keys)
        killed = _run(redis_url, keys, syncs, crash)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        done = _run(redis_url, keys, syncs, None)
        assert done.returncode == 0, done.stderr + done.stdout

        per_person = [sum(1 for d in hook.deliveries if d.body["person_id"] == p) for p in PEOPLE]
        assert per_person == want_per_person
        # a change sent twice always carries the same idempotency key
        keys_of = {}
        for d in hook.deliveries:
            keys_of.setdefault(d.body["person_id"], set()).add(d.idempotency_key)
        assert all(len(v) == 1 for v in keys_of.values())

        rows = RedisOutboxStore(redis_client, keys, "to_crm").rows()
        statuses: dict[str, int] = {}
        for r in rows.values():
            statuses[r["status"]] = statuses.get(r["status"], 0) + 1
        assert statuses == want_status
        assert redis_client.xpending(keys.changes, "triggers")["pending"] == 0
        # a third run has nothing left to do
        again = _run(redis_url, keys, syncs, None)
        assert again.returncode == 0 and len(hook.deliveries) == sum(want_per_person)


def test_kill_9_after_braze_took_the_events_never_sends_them_twice(
    redis_url, redis_client, keys, tmp_path
):
    with BrazeEmulator() as braze:
        syncs = write_syncs(
            tmp_path, [{"name": "braze_rt", "destination": "braze", "segments": "all"}]
        )
        _changes(redis_client, keys)
        env = {"BRAZE_REST_ENDPOINT": braze.url, "BRAZE_API_KEY": SANDBOX_KEY}
        killed = _run(redis_url, keys, syncs, "event_ack:1", env)
        assert killed.returncode == -signal.SIGKILL, killed.stderr
        assert len(braze.events) == 5  # one request of 5 events arrived
        done = _run(redis_url, keys, syncs, None, env)
        assert done.returncode == 0, done.stderr
        assert sorted(e["external_id"] for e in braze.events) == PEOPLE
        assert "0 sent, 0 rejected, 5 unknown, 0 pending" in done.stdout


def test_the_long_running_forwarder_delivers_as_changes_arrive_and_stops_on_sigterm(
    redis_url, redis_client, keys, tmp_path
):
    with WebhookEmulator(config=WebhookConfig(secret=SECRET)) as hook:
        syncs = write_syncs(
            tmp_path,
            [
                {
                    "name": "to_crm",
                    "destination": "webhook",
                    "segments": "all",
                    "options": {"url": hook.endpoint},
                }
            ],
        )
        env = {k: v for k, v in os.environ.items() if k != "AUDIENCES_TEST_CRASH_AT"}
        env.update(
            AUDIENCES_REDIS_URL=redis_url,
            AUDIENCES_REDIS_PREFIX=keys.prefix,
            AUDIENCES_WEBHOOK_SECRET=SECRET,
        )
        cmd = [sys.executable, "-c", "from audiences.cli import main; main()", "triggers"]
        proc = subprocess.Popen(
            [*cmd, "--config", str(syncs), "--lock-ttl", "3"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while redis_client.exists(keys.changes) == 0 or not redis_client.xinfo_groups(
                keys.changes
            ):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            _changes(redis_client, keys)
            while len(hook.deliveries) < len(PEOPLE):
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert sorted(d.body["person_id"] for d in hook.deliveries) == PEOPLE
        assert "trigger to_crm: 5 sent, 0 rejected, 0 unknown, 0 pending" in out
        assert redis_client.get(keys.triggers_lock) is None  # released on a clean stop
