"""Braze specifics: typed attributes, the segment array, rejections, the reset header, and
segment events sent exactly once through the outbox (ADR 0005)."""

from __future__ import annotations

import collections
import json
import os
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

from dest_support import SCHEMA, insert

from reverse_etl.http.transport import RetryPolicy

T = f"{SCHEMA}.aud_braze_users"
EVENTS = {"backfill": True}


def changes(users: list[str], at: datetime, kind: str = "entered", seg: str = "high_value"):
    return [
        {
            "membership_id": f"m-{u}-{seg}",
            "person_id": f"p-{u}",
            "user_id": u,
            "segment_key": seg,
            "segment_family": "lifecycle",
            "change_type": kind,
            "changed_at": at,
            "as_of": at,
        }
        for u in users
    ]


def test_attributes_are_typed_and_segments_an_array(dest_env):
    env = dest_env("braze", n=80)
    assert env.run().status == "success"
    emu = env.emulator
    row = next(r for r in env.model_rows() if r["external_id"] == "u0000001")
    user = emu.users["u0000001"]
    assert user["audiences_segments"] == row["segments"].split(";")
    assert user["audiences_lifetime_revenue"] == row["lifetime_revenue"]
    assert isinstance(user["audiences_orders_count"], int)
    assert user["email"] == "person0000001@example.com" and user["phone"] == "+16505550001"
    assert user["country"] == row["country"]
    assert not emu.type_conflicts
    # batches at the object limit: 80 rows -> 75 + 5
    assert emu.api_calls == 2


def test_poisoned_row_rejected_with_braze_message_and_object_cap_split(dest_env):
    env = dest_env("braze", n=100)
    env.exec(f"UPDATE {T} SET email = 'bad@@example' WHERE external_id = 'u0000042'")
    env.emulator.config.object_limit = 50  # an account on the 50-object plan
    res = env.run()
    assert res.status == "partial" and res.counts["rejected"] == 1
    assert res.rejections[0][0] == "u0000042" and "valid email" in res.rejections[0][1]
    assert len(env.emulator.users) == 99


def test_429_waits_for_the_reset_header(dest_env):
    env = dest_env("braze", n=300)
    env.emulator.config.requests_per_window = 2
    env.emulator.config.window_seconds = 1.0
    res = env.run(
        retry_policy=RetryPolicy(
            max_attempts=20, base_seconds=5, max_wait_seconds=5, timeout_seconds=2
        )
    )
    assert res.status == "success"
    assert env.emulator.throttled > 0 and res.counts["retries"] == env.emulator.throttled
    env.assert_destination_equals_model()


def _events(env) -> collections.Counter:
    return collections.Counter(
        (e["external_id"], e["name"], e["properties"]["segment"], e["time"])
        for e in env.emulator.events
    )


def test_events_sent_once_each_and_only_for_synced_people(dest_env):
    env = dest_env("braze", n=90, options={**_opts(), "events": EVENTS})
    t0 = datetime(2026, 3, 1, 8)
    insert(
        env.db,
        "segment_membership_changes",
        changes([f"u{i:07d}" for i in range(80)], t0)
        + changes(["u0000005"], t0 + timedelta(hours=1), "exited")
        + changes(["stranger"], t0),
    )  # not in the mart: no consent -> no event
    res = env.run()
    assert res.counts["events_sent"] == 81 and res.counts["events_requests"] == 2
    ev = _events(env)
    assert len(ev) == 81 and set(ev.values()) == {1}
    assert not env.emulator.events_for("stranger")
    # re-run, and a new change: only the new one is sent
    insert(
        env.db,
        "segment_membership_changes",
        changes(["u0000007"], t0 + timedelta(hours=2), "exited"),
    )
    res2 = env.run()
    assert res2.counts["events_sent"] == 1
    assert len(env.emulator.events) == 82 and set(_events(env).values()) == {1}


def test_events_start_from_now_without_backfill(dest_env):
    env = dest_env("braze", n=10, options={**_opts(), "events": {}})
    insert(env.db, "segment_membership_changes", changes(["u0000001"], datetime(2026, 2, 1)))
    assert env.run().counts["events_sent"] == 0
    insert(env.db, "segment_membership_changes", changes(["u0000002"], datetime(2026, 3, 2)))
    env.exec(f"UPDATE {T} SET city = 'Lyon' WHERE external_id = 'u0000002'")
    assert env.run().counts["events_sent"] == 1


def test_event_5xx_and_429_are_retried_timeouts_are_not(dest_env):
    env = dest_env("braze", n=20, options={**_opts(), "events": EVENTS})
    t0 = datetime(2026, 3, 1, 8)
    assert env.run().status == "success"  # attributes; no change yet
    insert(env.db, "segment_membership_changes", changes([f"u{i:07d}" for i in range(20)], t0))
    env.emulator.inject_fault(503, count=2, path="/users/track")
    env.emulator.inject_fault(429, count=1, path="/users/track")
    res = env.run()  # nothing changed in the mart: only the events are sent
    assert res.counts["events_sent"] == 20 and res.counts["events_requests"] == 4
    # a timeout: the outcome is unknown -> not re-sent (at most once), counted
    insert(
        env.db,
        "segment_membership_changes",
        changes(["u0000003"], t0 + timedelta(hours=1), "exited"),
    )
    env.emulator.inject_fault(timeout=0.5, count=1, path="/users/track")
    res = env.run(
        retry_policy=RetryPolicy(
            max_attempts=3, base_seconds=0.01, max_wait_seconds=0.02, timeout_seconds=0.2
        )
    )
    assert res.counts["events_unknown"] == 1 and res.counts["events_sent"] == 0
    assert env.sql("SELECT status FROM reverse_etl.event_outbox WHERE change = 'exited'") == [
        ("unknown",)
    ]


def _opts() -> dict:
    from dest_support import BRAZE_OPTIONS

    return dict(BRAZE_OPTIONS)


def _child(env, crash: str | None, on_unknown: str = "skip") -> int:
    spec = env.describe()
    spec["sync"]["options"]["events"] = {**EVENTS, "on_unknown": on_unknown}
    path = env.root / "child.json"
    path.write_text(json.dumps(spec, default=str))
    penv = {k: v for k, v in os.environ.items() if k != "AUDIENCES_TEST_CRASH_AT"}
    if crash:
        penv["AUDIENCES_TEST_CRASH_AT"] = crash
    repo = Path(__file__).resolve().parents[3]
    penv["PYTHONPATH"] = f"{repo}{os.pathsep}{Path(__file__).parent}"
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "dest_support.py"), str(path)],
        env=penv,
        capture_output=True,
        timeout=120,
    )
    assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.decode()[-2000:]
    return proc.returncode


def test_kill_9_between_send_and_commit_never_doubles_an_event(dest_env):
    env = dest_env("braze", n=160, options={**_opts(), "events": EVENTS})
    t0 = datetime(2026, 3, 1, 8)
    insert(env.db, "segment_membership_changes", changes([f"u{i:07d}" for i in range(160)], t0))
    # killed after Braze accepted the 2nd event request, before the outbox recorded it
    assert _child(env, "event_ack:2") == -signal.SIGKILL
    assert len(env.emulator.events) == 150
    assert _child(env, None) == 0
    ev = _events(env)
    assert set(ev.values()) == {1}  # never twice
    status = dict(env.sql("SELECT status, count(*) FROM reverse_etl.event_outbox GROUP BY 1"))
    assert status == {"sent": 85, "unknown": 75}  # the 2nd request's 75 are 'unknown'
    assert len(ev) == 160  # ...yet they did arrive: at most once lost nothing here
    # killed after the write-ahead claim but before the request: nothing arrives, the rows
    # are 'unknown' (skip) -- or re-sent with on_unknown=resend
    insert(
        env.db,
        "segment_membership_changes",
        changes([f"u{i:07d}" for i in range(10)], t0 + timedelta(hours=1), "exited"),
    )
    env.exec(f"UPDATE {T} SET city = 'Lyon'")
    assert _child(env, "event_wal:1", on_unknown="resend") == -signal.SIGKILL
    assert _child(env, None, on_unknown="resend") == 0
    assert sum(1 for e in env.emulator.events if e["name"].endswith("exited")) == 10
    assert set(_events(env).values()) == {1}
