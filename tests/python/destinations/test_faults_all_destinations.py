"""The HubSpot suite's fault scenarios (tests/python/reverse_etl: rate-limit storms, 5xx,
timeouts, persistent failures, poisoned rows, kill -9 resume, secret leakage), run for every
destination of this package, parametrized: each destination's emulator reproduces its own
API's throttle signal and error bodies, and the same assertions hold for all of them."""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from dest_support import ALL, SCHEMA, SECRETS

from reverse_etl.retry import RetryPolicy

HERE = Path(__file__).parent
REPO = HERE.parents[2]

# Each API's own throttle answer (destination-apis.md §5), injected as a one-shot fault.
THROTTLE = {
    "braze": (429, {"message": "API rate limit exceeded"}),
    "meta": (
        400,
        {
            "error": {
                "message": "There have been too many calls to this ad-account. "
                "Wait a bit and try again.",
                "type": "OAuthException",
                "code": 80003,
                "error_subcode": 2446079,
                "fbtrace_id": "x",
            }
        },
    ),
    "google_data_manager": (
        429,
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "Quota exceeded",
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.05s"}
                ],
            }
        },
    ),
    "google_ads": (
        429,
        {
            "error": {
                "code": 429,
                "status": "RESOURCE_EXHAUSTED",
                "message": "Too many requests",
                "details": [],
            }
        },
    ),
}
# The rows the poisoned-row scenario breaks, and how (a malformed email is refused by every
# destination: by Braze's validation, by the ad platforms' normalisation before hashing).
POISON = "bad@@example"


def _fast(**kw) -> RetryPolicy:
    base = dict(max_attempts=10, base_seconds=0.01, max_wait_seconds=0.1, timeout_seconds=2.0)
    return RetryPolicy(**{**base, **kw})


def _assert_no_double_send(env) -> None:
    sends = env.target.sends(env.emulator)
    assert not sends or max(sends.values()) == 1, [k for k, v in sends.items() if v > 1][:3]


@pytest.mark.parametrize("name", ALL)
def test_rate_limit_storm_and_5xx_recover(dest_env, name):
    env = dest_env(name, n=260, options={**_small_batches(name)})
    status, body = THROTTLE[name]
    emu, path = env.emulator, env.target.write_path
    emu.inject_fault(status, count=3, path=path, body=body)
    emu.inject_fault(503, count=3, path=path)
    emu.inject_fault(502, count=2, retry_after=0.05)
    res = env.run(retry_policy=_fast(max_attempts=12))  # the 8 faults hit one request
    assert res.status == "success", res.error
    assert res.counts["retries"] == 8 and res.counts["added"] == 260
    env.assert_destination_equals_model()
    _assert_no_double_send(env)


@pytest.mark.parametrize("name", ALL)
def test_timeouts_recover(dest_env, name):
    env = dest_env(name, n=150, options={**_small_batches(name)})
    env.emulator.inject_fault(timeout=0.6, count=2, path=env.target.write_path)
    res = env.run(retry_policy=_fast(max_attempts=5, timeout_seconds=0.3))
    assert res.status == "success" and res.counts["retries"] == 2
    env.assert_destination_equals_model()


@pytest.mark.parametrize("name", ALL)
def test_persistent_5xx_fails_and_next_run_resumes(dest_env, name):
    env = dest_env(name, n=200, options={**_small_batches(name)})
    env.emulator.inject_fault(500, count=100, path=env.target.write_path)
    res = env.run(retry_policy=_fast(max_attempts=3))
    assert res.status == "failed" and "gave up after 3 attempts" in res.error
    env.emulator.faults.clear()
    res2 = env.run()
    assert res2.status == "success" and res2.counts["added"] + res2.counts["reconciled"] == 200
    env.assert_destination_equals_model()
    statuses = env.sql("SELECT status FROM reverse_etl.runs ORDER BY started_at")
    assert statuses == [("failed",), ("success",)]


@pytest.mark.parametrize("name", ALL)
def test_poisoned_row_is_isolated_recorded_and_retried(dest_env, name):
    env = dest_env(name, n=120)
    table, ident = f"{SCHEMA}.{env.target.table}", env.target.identity
    env.exec(f"UPDATE {table} SET email = '{POISON}' WHERE {ident} = 'u0000057'")
    res = env.run()
    assert res.status == "partial"
    assert res.counts["added"] == 119 and res.counts["rejected"] == 1
    assert res.rejections[0][0] == "u0000057"
    assert POISON not in res.rejections[0][1] or name == "braze"  # ad platforms withhold it
    assert env.sql("SELECT key, action, attempts FROM reverse_etl.rejections") == [
        ("u0000057", "add", 1)
    ]
    res2 = env.run()
    assert res2.status == "partial" and res2.counts["rejected"] == 1
    assert res2.counts["unchanged"] == 119
    assert env.sql("SELECT attempts FROM reverse_etl.rejections") == [(2,)]
    env.exec(f"UPDATE {table} SET email = 'fixed@example.com' WHERE {ident} = 'u0000057'")
    res3 = env.run()
    assert res3.status == "success" and res3.counts["added"] == 1
    assert env.sql("SELECT count(*) FROM reverse_etl.rejections") == [(0,)]
    env.assert_destination_equals_model()


def _small_batches(name: str) -> dict:
    from dest_support import targets

    opts = dict(targets()[name].options)
    if name != "braze":
        opts["batch_size"] = 50  # several batches at a small size
    return opts


# --- kill -9 -------------------------------------------------------------------------------------
def _child(env, crash: str | None, **extra_env: str) -> tuple[int, str]:
    spec = env.describe()
    path = env.root / "child.json"
    path.write_text(json.dumps(spec, default=str))
    penv = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCES_")}
    penv["PYTHONPATH"] = f"{REPO}{os.pathsep}{HERE}"
    if crash:
        penv["AUDIENCES_TEST_CRASH_AT"] = crash
    penv.update(extra_env)
    proc = subprocess.run(
        [sys.executable, str(HERE / "dest_support.py"), str(path)],
        env=penv,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout.decode() + proc.stderr.decode()


@pytest.mark.parametrize("name", ALL)
def test_kill_9_at_seeded_points_then_resume(dest_env, name):
    rng = random.Random(20261124)
    env = dest_env(name, n=250, options={**_small_batches(name)})
    kills = 0
    for phase in range(2):
        if phase == 1:
            table, ident = f"{SCHEMA}.{env.target.table}", env.target.identity
            env.exec(
                f"UPDATE {table} SET email = replace(email, 'Person', 'Human') "
                f"WHERE {ident} LIKE '%3'"
            )
            env.exec(f"DELETE FROM {table} WHERE {ident} >= 'u0000235'")
        phase_kills = 0
        while phase_kills < 3:
            point = rng.choice(["wal", "response", "ack", "commit"])
            rc, out = _child(env, f"{point}:{rng.randint(1, 2)}")
            assert rc in (0, -signal.SIGKILL), out[-2000:]
            if rc == 0:
                break  # the sync completed before reaching the crash point
            phase_kills += 1
        kills += phase_kills
        rc, out = _child(env, None)
        assert rc == 0, out[-2000:]
        env.assert_destination_equals_model()
    assert kills >= 4
    assert env.sql("SELECT count(*) FROM reverse_etl.inflight") == [(0,)]
    assert env.sql("SELECT count(*) FROM reverse_etl.sync_state")[0][0] == len(env.model_rows())
    # Braze (profile export) and Meta (upload sessions) read an in-flight batch back after a
    # kill: nothing they acknowledged is sent again. The Google APIs cannot be read back; the
    # in-flight batch is re-sent (harmless: membership is a set), at most once per kill.
    sends = env.target.sends(env.emulator)
    if name in ("braze", "meta"):
        _assert_no_double_send(env)
    else:
        batch = 50
        assert max(sends.values()) <= 1 + kills
        assert sum(v - 1 for v in sends.values()) <= kills * batch
    rc, out = _child(env, None)
    res = json.loads(out[: out.rindex("}") + 1])
    assert res["counts"] == {"unchanged": len(env.model_rows())}


# --- secrets --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ALL)
def test_secrets_never_leak(dest_env, name, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    env = dest_env(name, n=90, options={**_small_batches(name)})
    emu, path = env.emulator, env.target.write_path
    secret_vars = {
        "braze": ["BRAZE_API_KEY"],
        "meta": ["META_ACCESS_TOKEN"],
        "google_data_manager": ["GOOGLE_ACCESS_TOKEN"],
        "google_ads": ["GOOGLE_ACCESS_TOKEN", "GOOGLE_ADS_DEVELOPER_TOKEN"],
    }[name]
    secrets = [SECRETS[v] for v in secret_vars]
    echo = f"token {' '.join(secrets)} is expired"
    emu.inject_fault(500, count=2, path=path)
    emu.inject_fault(timeout=0.5, count=1, path=path)
    emu.inject_fault(
        401,
        count=1,
        path=path,
        body={
            "message": echo,
            "error": {"message": echo, "code": 190, "status": "UNAUTHENTICATED"},
        },
    )
    texts = []
    r1 = env.run(retry_policy=_fast(timeout_seconds=0.3))
    texts.append(json.dumps(r1.as_dict()))
    assert r1.status == "failed" and "***" in r1.error
    r2 = env.run(retry_policy=_fast(timeout_seconds=0.3))
    texts.append(json.dumps(r2.as_dict()))
    assert r2.status == "success", r2.error
    table, ident = f"{SCHEMA}.{env.target.table}", env.target.identity
    env.exec(f"UPDATE {table} SET email = 'x@@y' WHERE {ident} = 'u0000004'")
    texts.append(json.dumps(env.run().as_dict()))
    monkeypatch.setenv(
        next(k for k in env.target.env(emu) if k.endswith(("URL", "ENDPOINT"))),
        "http://127.0.0.1:9",
    )
    env.exec(f"UPDATE {table} SET first_name = 'Rome' WHERE {ident} = 'u0000005'")
    r4 = env.run(retry_policy=_fast(max_attempts=2))
    texts.append(json.dumps(r4.as_dict()))
    assert r4.status == "failed" and "connection failed" in r4.error
    texts.append(caplog.text)
    for t in ("sync_state", "inflight", "runs", "rejections"):
        texts.append(repr(env.sql(f"SELECT * FROM reverse_etl.{t}")))
    joined = "\n".join(texts)
    for s in secrets:
        assert s not in joined
        data = env.db.read_bytes()
        wal = env.db.with_suffix(".duckdb.wal")
        if wal.exists():
            data += wal.read_bytes()
        assert s.encode() not in data
    assert collections.Counter(joined.split("***"))  # the echo was redacted, not dropped


def _tighten(name: str, emu) -> None:
    """Each emulator enforcing its own API's limit with a tiny window."""
    c = emu.config
    if name == "braze":
        c.requests_per_window, c.window_seconds = 3, 1.0
    elif name == "meta":
        c.hourly_base, c.per_audience, c.window_seconds = 3, 0, 1.0
    elif name == "google_data_manager":
        c.dm_per_minute, c.dm_minute_seconds = 3, 1.0
    else:
        c.ads_per_window, c.ads_window_seconds = 3, 1.0


@pytest.mark.parametrize("name", ALL)
def test_rate_limited_by_emulator_window_recovers(dest_env, name):
    """Client limiter off, the emulator enforcing a small window: 429s (Meta: 80003), then
    success; every throttled request was retried."""
    env = dest_env(name, n=300, options={**_small_batches(name)})
    _tighten(name, env.emulator)
    res = env.run(retry_policy=_fast(max_attempts=30, base_seconds=0.05, max_wait_seconds=0.3))
    assert res.status == "success", res.error
    assert env.emulator.throttled > 0 and res.counts["retries"] == env.emulator.throttled
    env.assert_destination_equals_model()
    _assert_no_double_send(env)


@pytest.mark.parametrize("name", ALL)
def test_client_limiter_keeps_under_the_ceiling(dest_env, name):
    """The client-side limiter at the emulator's own limit: not a single throttled call."""
    env = dest_env(
        name,
        n=200,
        options={**_small_batches(name)},
        rate_limit={"requests": 3, "window_seconds": 1.15},
    )
    _tighten(name, env.emulator)
    res = env.run()
    assert res.status == "success" and env.emulator.throttled == 0
    env.assert_destination_equals_model()


@pytest.mark.parametrize("name", ["meta", "google_data_manager", "google_ads"])
def test_long_quota_stops_the_run_clearly_and_the_next_run_resumes(dest_env, name):
    env = dest_env(name, n=200, options={**_small_batches(name)})
    c = env.emulator.config
    if name == "meta":  # a budget per rolling hour, answered with 80003 + time to regain
        c.hourly_base, c.per_audience = 4, 0
    elif name == "google_data_manager":  # 100,000 requests per project and day
        c.dm_per_day = 2
    else:  # 15,000 addOperations per developer token and day
        c.ads_daily_operations = 2
    res = env.run()
    assert res.status == "failed"
    assert "resumes on the next run" in res.error, res.error
    if name == "meta":
        c.hourly_base = None
    else:
        c.dm_per_day = c.ads_daily_operations = None
    res2 = env.run()
    assert res2.status == "success", res2.error
    env.assert_destination_equals_model()


@pytest.mark.parametrize("name", ALL)
def test_python_heap_does_not_grow_with_rows(dest_env, name):
    """Python holds one page of the diff and one batch, never the model (DESIGN.md §6)."""
    from dest_support import insert, targets

    env = dest_env(name, n=300, options={**_small_batches(name)})
    peaks = []
    for extra in (0, 900):
        if extra:
            insert(env.db, env.target.table, targets()[name].make_rows(extra, start=1000))
        rc, out = _child(env, None, AUDIENCES_TEST_TRACEMALLOC="1", AUDIENCES_SYNC_PAGE_ROWS="100")
        assert rc == 0, out[-2000:]
        res = json.loads(out[: out.rindex("}") + 1])
        assert res["counts"]["added"] == (extra or 300)
        peaks.append(res["py_peak"])
    assert peaks[1] < peaks[0] * 1.5 + 2_000_000, peaks  # 4x the rows, not 4x the heap


# --- refusals before any request -----------------------------------------------------------------
CREDENTIAL = {
    "braze": "BRAZE_API_KEY",
    "meta": "META_ACCESS_TOKEN",
    "google_data_manager": "GOOGLE_ACCESS_TOKEN",
    "google_ads": "GOOGLE_ADS_DEVELOPER_TOKEN",
}


@pytest.mark.parametrize("name", ALL)
def test_missing_credential_is_a_clear_error(dest_env, monkeypatch, name):
    env = dest_env(name, n=5)
    monkeypatch.delenv(CREDENTIAL[name])
    res = env.run()
    assert res.status == "failed" and f"{CREDENTIAL[name]} is not set" in res.error
    assert env.emulator.stats["requests"] == 0


@pytest.mark.parametrize("name", ALL)
def test_duplicate_identity_is_refused(dest_env, name):
    env = dest_env(name, n=20)
    table, ident = f"{SCHEMA}.{env.target.table}", env.target.identity
    env.exec(f"UPDATE {table} SET {ident} = 'u0000004' WHERE {ident} = 'u0000005'")
    res = env.run()
    assert res.status == "failed" and "not unique" in res.error and "u0000004" in res.error
    assert env.emulator.stats["requests"] == 0


@pytest.mark.parametrize("name", ALL)
def test_safety_brake_and_dry_run_apply_nothing(dest_env, name):
    env = dest_env(name, n=100, max_removal_pct=10)
    plan = env.run(dry_run=True)
    assert plan.status == "dry_run" and plan.planned.added == 100
    assert env.target.holdings(env.emulator) == set()  # (Data Manager may validateOnly)
    assert env.run().status == "success"
    table, ident = f"{SCHEMA}.{env.target.table}", env.target.identity
    env.exec(f"DELETE FROM {table} WHERE {ident} < 'u0000020'")  # 20 % > 10 %
    calls = env.emulator.stats["requests"]
    res = env.run()
    assert res.status == "refused" and "safety brake" in res.error and "20 of 100" in res.error
    assert env.emulator.stats["requests"] == calls
    assert len(env.target.holdings(env.emulator)) == 100
