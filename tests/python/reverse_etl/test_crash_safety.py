"""kill -9 at seeded points, then resume: the destination equals the model and nothing the
destination acknowledged is ever sent again (write-ahead in-flight records + reconcile)."""

from __future__ import annotations

import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from retl_support import SCHEMA, TABLE, TOKEN, insert_rows, make_rows

T = f"{SCHEMA}.{TABLE}"
SEED = 20261124
REPO = Path(__file__).resolve().parents[3]


def _spawn(env, crash: str | None) -> subprocess.Popen:
    penv = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCES_")}
    penv.update(
        {
            "HUBSPOT_BASE_URL": env.emulator.url,
            "HUBSPOT_ACCESS_TOKEN": TOKEN,
            "AUDIENCES_DUCKDB_PATH": str(env.db_path),
            "AUDIENCES_RETRY_BASE_SECONDS": "0.01",
            "AUDIENCES_RETRY_MAX_WAIT": "0.1",
            "PYTHONPATH": str(REPO),
        }
    )
    if crash:
        penv["AUDIENCES_TEST_CRASH_AT"] = crash
    code = "import sys; from reverse_etl.cli import sync; sync(sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--config", str(env.config_path), "--json"],
        env=penv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=env.root,
    )


def _run(env, crash: str | None = None) -> tuple[int, str]:
    proc = _spawn(env, crash)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode() + err.decode()


def _finish(env) -> dict:
    rc, out = _run(env)
    assert rc == 0, out
    return json.loads(out[: out.rindex("}") + 1])["results"][0]


def _chain(env, rng: random.Random, kills_wanted: int, log: list[str]) -> int:
    """Run with crash points until ``kills_wanted`` kills happened (or the sync completes)."""
    kills = 0
    while kills < kills_wanted:
        point = rng.choice(["wal", "response", "response", "ack", "commit"])
        spec = f"{point}:{rng.randint(1, 3) if point == 'response' else 1}"
        rc, out = _run(env, spec)
        log.append(f"{spec} -> {rc}")
        if rc == -signal.SIGKILL:
            kills += 1
        else:
            assert rc == 0, out
            break  # the sync completed before reaching the crash point
    return kills


def _assert_exactly_once(emu) -> None:
    upserts = collections.Counter(
        (a.key, json.dumps(a.properties, sort_keys=True)) for a in emu.acks if a.kind == "upsert"
    )
    assert max(upserts.values()) == 1, [k for k, v in upserts.items() if v > 1][:3]
    for kind in ("list_add", "list_remove", "update"):
        per_key = collections.Counter(a.key for a in emu.acks if a.kind == kind)
        assert not per_key or max(per_key.values()) == 1, (
            kind,
            [k for k, v in per_key.items() if v > 1][:3],
        )


def test_kill_9_at_seeded_points_then_resume(make_env):
    rng = random.Random(SEED)
    env = make_env(n=1500)
    log: list[str] = []
    kills = 0

    # Phase A: first sync of 1500 rows (15 batches), killed repeatedly at hook points.
    kills += _chain(env, rng, 9, log)
    _finish(env)
    env.assert_destination_equals_model()

    # Phase B: changes, removals (6.7 % < brake) and new rows, killed again.
    env.exec(f"UPDATE {T} SET city = 'Changed-B' WHERE user_id SIMILAR TO '.*[3679]'")
    env.exec(f"DELETE FROM {T} WHERE email >= 'person0001400@example.com'")
    wh = env.warehouse()
    insert_rows(wh, make_rows(50, seed=99, start=5000))
    wh.close()
    kills += _chain(env, rng, 9, log)
    _finish(env)
    env.assert_destination_equals_model()

    # Phase C: kills at random instants (SIGKILL from outside, mid-request included).
    env.exec(f"UPDATE {T} SET city = 'Changed-C' WHERE user_id SIMILAR TO '.*[0-5]'")
    env.exec(
        f"DELETE FROM {T} WHERE email >= 'person0001300@example.com' "
        "AND email < 'person0001400@example.com'"
    )
    env.emulator.config.latency = 0.05  # stretch the run so the kills land mid-sync
    timed = 0
    for _ in range(12):
        proc = _spawn(env, None)
        time.sleep(rng.uniform(0.45, 0.9))
        if proc.poll() is None:
            proc.kill()
            proc.wait()
            timed += 1
            log.append(f"timed kill -> {proc.returncode}")
        else:
            proc.communicate()
            break
        if timed >= 8:
            break
    kills += timed
    final = _finish(env)
    assert final["status"] == "success"

    print("\n".join(log))
    assert kills >= 20, log
    env.assert_destination_equals_model()
    _assert_exactly_once(env.emulator)
    assert env.sql("SELECT count(*) FROM reverse_etl.inflight") == [(0,)]
    assert env.sql("SELECT count(*) FROM reverse_etl.sync_state")[0][0] == len(env.model_rows())
    statuses = collections.Counter(r[0] for r in env.sql("SELECT status FROM reverse_etl.runs"))
    assert statuses["running"] == 0 and statuses["interrupted"] >= kills - timed
    # a rerun after everything is done sends nothing
    calls = env.emulator.api_calls
    assert _finish(env)["counts"] == {"unchanged": len(env.model_rows())}
    assert env.emulator.api_calls == calls
