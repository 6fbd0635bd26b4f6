"""``audiences sync --full-resync`` of a Meta sync with ``options.upload: replace``, killed
with SIGKILL at seeded points of the replace session and run again: the state only ever
moves when a session completes, and the last run leaves Meta holding exactly the model."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

from dest_support import SCHEMA, ads_rows, insert, targets

AUDIENCE = "Audiences | high_value"
AUDIENCES_CLI = str(Path(sys.executable).parent / "audiences")


def _cli(env, *args: str, crash: str | None = None) -> subprocess.CompletedProcess:
    penv = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCES_")}
    penv.update(env.target.env(env.emulator))
    penv["AUDIENCES_DUCKDB_PATH"] = str(env.db)
    if crash:
        penv["AUDIENCES_TEST_CRASH_AT"] = crash
    return subprocess.run(
        [AUDIENCES_CLI, "sync", "--config", str(env.write_syncs()), *args],
        env=penv,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _state(env) -> set[tuple[str, str]]:
    return set(env.sql("SELECT key, fingerprint FROM reverse_etl.sync_state"))


def test_kill_9_during_a_replace_then_rerun(dest_env):
    opts = {"ad_account_id": "act_1001", "batch_size": 10, "upload": "replace"}
    env = dest_env("meta", n=60, options=opts)
    assert env.run().status == "success"
    table = f"{SCHEMA}.aud_meta_custom_audience"
    env.exec(f"DELETE FROM {table} WHERE user_id >= 'u0000055'")  # 5 leave
    insert(env.db, "aud_meta_custom_audience", ads_rows(4, start=200))  # 4 arrive
    before = _state(env)
    rng = random.Random(20261124)
    kills = swapped = 0
    for _ in range(8):
        point = rng.choice(["response", "ack", "commit", "swap"])
        at = 1 if point == "swap" else rng.randint(1, 6)
        proc = _cli(env, "--full-resync", "--json", crash=f"{point}:{at}")
        assert proc.returncode == -signal.SIGKILL, proc.stdout[-2000:] + proc.stderr[-2000:]
        kills += 1
        if point == "swap":
            swapped += 1  # killed right after the swap committed: the state is the model's
            assert {k for k, _ in _state(env)} == {r["user_id"] for r in env.model_rows()}
        elif not swapped:
            assert _state(env) == before  # a replace that did not complete moves nothing
    assert kills == 8 and swapped >= 1
    proc = _cli(env, "--full-resync", "--json")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout)["results"][0]
    assert result["status"] == "success"
    assert result["counts"]["added"] == 59 and result["counts"]["removed"] == 0
    expected = {targets()["meta"].marker(r) for r in env.model_rows()}
    assert env.emulator.member_values(AUDIENCE, "EMAIL") == expected
    assert {k for k, _ in _state(env)} == {r["user_id"] for r in env.model_rows()}
    assert env.sql("SELECT count(*) FROM reverse_etl.replace_staging") == [(0,)]
    sessions = env.emulator.audience_by_name(AUDIENCE)["sessions"].values()
    finished = [s for s in sessions if s["batches"] == [1, 2, 3, 4, 5, 6]]
    assert any(s["stage"] == "finished" for s in finished)
    # runs killed mid-session are recorded as interrupted, not left running
    statuses = [s for (s,) in env.sql("SELECT status FROM reverse_etl.runs WHERE mode = 'replace'")]
    assert statuses.count("interrupted") == kills and statuses.count("success") == 1
    proc = _cli(env, "--json")  # an ordinary run afterwards sends nothing
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout)["results"][0]["counts"] == {"unchanged": 59}
