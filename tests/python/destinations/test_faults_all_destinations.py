"""The fault scenarios (rate-limit storms, 5xx, timeouts, persistent failures, poisoned rows,
kill -9 resume, secret leakage, ...) run for every destination, HubSpot included,
parametrized: each destination's emulator reproduces its own API's throttle signal and error
bodies, and the same assertions hold for all of them. (The HubSpot suite in
tests/python/reverse_etl keeps HubSpot's own behaviour: list membership, the multi-checkbox
property, mirror and brake specifics, the emulator's contract.)"""

from __future__ import annotations

import collections
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import click
import pytest
from click.testing import CliRunner
from dest_support import ALL, EVERY, SCHEMA, SECRETS, insert, target

from reverse_etl import cli
from reverse_etl.http.transport import RetryPolicy

HERE = Path(__file__).parent
REPO = HERE.parents[2]

# Each API's own throttle answer (destination-apis.md §1, §5), injected as a one-shot fault.
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
    "hubspot": (
        429,
        {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": "6b1f3a52-9c1e-4a8e-8f3d-2b7c9d0e1f24",
            "policyName": "TEN_SECONDLY_ROLLING",
            "requestId": "0d7c4e1b-5a2f-4c3d-9e8f-7a6b5c4d3e2f",
        },
    ),
    # (HTTP 200: Marketo says in the body whether a call worked)
    "marketo": (
        200,
        {
            "requestId": "e42b#14272d07d78",
            "success": False,
            "errors": [
                {"code": "606", "message": "Max rate limit '100' exceeded with in '20' secs"}
            ],
        },
    ),
}
# The rows the poisoned-row scenario breaks, and how (a malformed email is refused by the
# validation of Braze, HubSpot and Marketo; the ad platforms drop only the identifier, see
# test_a_malformed_identifier_drops_only_that_identifier).
POISON = "bad@@example"
# What each destination says about that row.
POISON_ERROR = {
    "braze": f"'email' is not a valid email address: {POISON}",
    "hubspot": f"Email address {POISON} is invalid",  # (207 multi-status or whole-batch 400)
    "marketo": f"Invalid value '{POISON}'. Required of type 'email' (1001)",  # skipped record
}
AD_PLATFORMS = ["meta", "google_data_manager", "google_ads"]
# how each ad platform names the email and the phone identifier
AD_KEYS = {
    "meta": ("EMAIL", "PHONE"),
    "google_data_manager": ("email", "phone"),
    "google_ads": ("email", "phone"),
}
SECRET_VARS = {
    "braze": ["BRAZE_API_KEY"],
    "meta": ["META_ACCESS_TOKEN"],
    "google_data_manager": ["GOOGLE_ACCESS_TOKEN"],
    "google_ads": ["GOOGLE_ACCESS_TOKEN", "GOOGLE_ADS_DEVELOPER_TOKEN"],
    "hubspot": ["HUBSPOT_ACCESS_TOKEN"],
    "marketo": ["MARKETO_CLIENT_SECRET"],
}


def _fast(**kw) -> RetryPolicy:
    base = dict(max_attempts=10, base_seconds=0.01, max_wait_seconds=0.1, timeout_seconds=2.0)
    return RetryPolicy(**{**base, **kw})


def _small_batches(name: str) -> dict:
    t = target(name)
    opts = dict(t.options)
    if t.batch_size_option:
        opts["batch_size"] = 50  # several batches at a small size
    return opts


def _assert_no_double_send(env) -> None:
    sends = env.target.sends(env.emulator)
    assert not sends or max(sends.values()) == 1, [k for k, v in sends.items() if v > 1][:3]


def _uid(i: int) -> str:
    return f"u{i:07d}"


@pytest.mark.parametrize("name", EVERY)
def test_rate_limit_storm_and_5xx_recover(dest_env, name):
    env = dest_env(name, n=260, options=_small_batches(name))
    status, body = THROTTLE[name]
    emu, path = env.emulator, env.target.write_path
    emu.inject_fault(status, count=6, path=path, body=body)
    # (HubSpot: on the list membership write that follows the acknowledged upsert)
    emu.inject_fault(503, count=3, path=env.target.extra_write_path or path)
    emu.inject_fault(502, count=2, retry_after=0.05)
    res = env.run(retry_policy=_fast(max_attempts=12))  # up to 11 faults hit one request
    assert res.status == "success", res.error
    assert res.counts["retries"] == 11 and res.counts["added"] == 260
    env.assert_destination_equals_model()
    _assert_no_double_send(env)


@pytest.mark.parametrize("name", EVERY)
def test_timeouts_recover(dest_env, name):
    env = dest_env(name, n=150, options=_small_batches(name))
    env.emulator.inject_fault(timeout=0.6, count=2, path=env.target.write_path)
    res = env.run(retry_policy=_fast(max_attempts=5, timeout_seconds=0.3))
    assert res.status == "success" and res.counts["retries"] == 2
    env.assert_destination_equals_model()
    _assert_no_double_send(env)


@pytest.mark.parametrize("name", EVERY)
def test_persistent_5xx_fails_and_next_run_resumes(dest_env, name):
    env = dest_env(name, n=200, options=_small_batches(name))
    env.emulator.inject_fault(500, count=100, path=env.target.write_path)
    res = env.run(retry_policy=_fast(max_attempts=3))
    assert res.status == "failed" and "gave up after 3 attempts" in res.error
    env.emulator.faults.clear()
    res2 = env.run()
    # the in-flight batch of the failed run was never applied: read back (or not), then sent
    assert res2.status == "success" and res2.counts["added"] == 200
    assert res2.counts["reconciled"] == 0
    env.assert_destination_equals_model()
    _assert_no_double_send(env)
    statuses = env.sql("SELECT status FROM reverse_etl.runs ORDER BY started_at")
    assert statuses == [("failed",), ("success",)]


@pytest.mark.parametrize(
    ("name", "reject_mode"),
    [pytest.param(n, None, id=n) for n in EVERY if n in POISON_ERROR]
    # HubSpot can also refuse the whole batch (400) for one bad input: the engine splits it
    + [pytest.param("hubspot", "whole_batch", id="hubspot-whole_batch")],
)
def test_poisoned_row_is_isolated_recorded_and_retried(dest_env, name, reject_mode):
    env = dest_env(name, n=120)
    if reject_mode:
        env.emulator.config.reject_mode = reject_mode
    t = env.target
    table, sel = f"{SCHEMA}.{t.table}", t.row_id
    env.exec(f"UPDATE {table} SET email = '{POISON}' WHERE {sel} = 'u0000057'")
    key = next(r[t.identity] for r in env.model_rows() if r[sel] == "u0000057")
    res = env.run()
    assert res.status == "partial"
    assert res.counts["added"] == 119 and res.counts["rejected"] == 1
    assert len(res.rejections) == 1 and res.rejections[0][0] == key
    assert POISON_ERROR[name] in res.rejections[0][1], res.rejections
    # the ad platforms withhold the value (Braze, HubSpot and Marketo were sent it in clear)
    assert t.holdings(env.emulator) == {
        t.marker(r) for r in env.model_rows() if r[sel] != "u0000057"
    }
    assert env.sql("SELECT key, action, attempts FROM reverse_etl.rejections") == [(key, "add", 1)]
    # The next run retries only the bad row, reports it again and re-sends nothing else.
    sends = t.sends(env.emulator)
    res2 = env.run()
    assert res2.status == "partial" and res2.counts["rejected"] == 1
    assert res2.counts["unchanged"] == 119
    assert t.sends(env.emulator) == sends
    assert env.sql("SELECT attempts FROM reverse_etl.rejections") == [(2,)]
    # Fixed upstream: delivered, rejection cleared.
    env.exec(f"UPDATE {table} SET email = 'fixed@example.com' WHERE {sel} = 'u0000057'")
    res3 = env.run()
    assert res3.status == "success" and res3.counts["added"] == 1
    assert env.sql("SELECT count(*) FROM reverse_etl.rejections") == [(0,)]
    env.assert_destination_equals_model()


@pytest.mark.parametrize("name", AD_PLATFORMS)
@pytest.mark.parametrize(
    ("column", "value", "which"), [("phone", "not a phone", 1), ("email", POISON, 0)]
)
def test_a_malformed_identifier_drops_only_that_identifier(dest_env, name, column, value, which):
    """Issue 16: a member with a valid email and a malformed phone (or the reverse) is sent
    with its other identifiers, and the malformed one is reported with the run."""
    env = dest_env(name, n=120)
    t = env.target
    table, sel = f"{SCHEMA}.{t.table}", t.row_id
    env.exec(f"UPDATE {table} SET {column} = '{value}' WHERE {sel} = 'u0000057'")
    key = next(r[t.identity] for r in env.model_rows() if r[sel] == "u0000057")
    res = env.run()
    assert (res.status, res.counts["added"], res.counts["rejected"]) == ("success", 120, 0)
    identifier = AD_KEYS[name][which]
    assert res.dropped == [(key, (identifier,))]
    assert res.metrics["dropped_" + identifier.lower()] == 1
    # the member is in the audience: by its email hash when the phone was the bad one
    held = t.holdings(env.emulator)
    expected = {t.marker(r) for r in env.model_rows() if r[sel] != "u0000057" or which == 1}
    assert held == expected
    assert env.sql("SELECT count(*) FROM reverse_etl.rejections") == [(0,)]
    assert env.sql(
        "SELECT metric, value FROM reverse_etl.run_metrics WHERE metric LIKE 'dropped%'"
    ) == [("dropped_" + identifier.lower(), 1)]


# --- kill -9 -------------------------------------------------------------------------------------
SEED = 20261124


class KillPlan(NamedTuple):
    rows: int
    chained: int  # kills at crash-hook points, in each of the first two phases
    timed: int  # kills from outside at random instants mid-sync, in the last phase
    at_least: int  # kills that must have happened in total


# HubSpot: 15 batches of 100, 9 + 9 hook kills + 8 timed kills (the issue asks for >= 20).
KILLS = {name: KillPlan(250, 3, 3, 5) for name in [*ALL, "marketo"]} | {
    "hubspot": KillPlan(1500, 9, 8, 20)
}


def _spawn(env, crash: str | None, **extra_env: str) -> subprocess.Popen:
    """One sync (dest_support.main) in a child process, optionally killed at a hook point."""
    spec = env.describe()
    path = env.root / "child.json"
    path.write_text(json.dumps(spec, default=str))
    penv = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCES_")}
    penv["PYTHONPATH"] = f"{REPO}{os.pathsep}{HERE}"
    if crash:
        penv["AUDIENCES_TEST_CRASH_AT"] = crash
    penv.update(env.child_env)
    penv.update(extra_env)
    return subprocess.Popen(
        [sys.executable, str(HERE / "dest_support.py"), str(path)],
        env=penv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _child(env, crash: str | None, **extra_env: str) -> tuple[int, str]:
    proc = _spawn(env, crash, **extra_env)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out.decode() + err.decode()


def _finish(env) -> dict:
    rc, out = _child(env, None)
    assert rc == 0, out[-2000:]
    return json.loads(out[: out.rindex("}") + 1])


def _chain(env, rng: random.Random, wanted: int, log: list[str]) -> int:
    """Run with seeded crash points until ``wanted`` kills happened (or the sync completes)."""
    kills = 0
    while kills < wanted:
        point = rng.choice(["wal", "response", "response", "ack", "commit"])
        spec = f"{point}:{rng.randint(1, 3) if point == 'response' else 1}"
        rc, out = _child(env, spec)
        log.append(f"{spec} -> {rc}")
        if rc != -signal.SIGKILL:
            assert rc == 0, out[-2000:]
            break  # the sync completed before reaching the crash point
        kills += 1
    return kills


def _timed_kills(env, rng: random.Random, wanted: int, log: list[str]) -> int:
    """SIGKILL from outside at a seeded random instant after the sync's first request (so
    mid-request kills happen too), until ``wanted`` kills happened or a run completes."""
    emu = env.emulator
    emu.config.latency = 0.1  # stretch the run so the kills land mid-sync
    kills = 0
    try:
        while kills < wanted:
            before = emu.stats["requests"]
            proc = _spawn(env, None)
            while proc.poll() is None and emu.stats["requests"] == before:
                time.sleep(0.005)
            time.sleep(rng.uniform(0.0, 0.3))
            if proc.poll() is not None:
                out, err = proc.communicate()
                assert proc.returncode == 0, (out + err).decode()[-2000:]
                log.append("timed kill -> completed first")
                break
            proc.kill()
            proc.communicate()
            log.append(f"timed kill after {emu.stats['requests'] - before} requests")
            kills += 1
    finally:
        emu.config.latency = 0.0
    return kills


# Meta and the Google APIs encode (normalise and hash) batches ahead of the requests in
# worker processes on large runs (reverse_etl/encode_ahead.py): the same kills with the
# workers forced on, whatever the run's size.
ENCODE_AHEAD = {"AUDIENCES_SYNC_ENCODE_WORKERS": "2", "AUDIENCES_SYNC_ENCODE_MIN_ROWS": "0"}


@pytest.mark.parametrize(
    ("name", "workers"),
    [(n, False) for n in EVERY]
    + [
        pytest.param(n, True, id=f"{n}-encode-workers")
        for n in ("meta", "google_data_manager", "google_ads")
    ],
)
def test_kill_9_at_seeded_points_then_resume(dest_env, name, workers):
    """kill -9 at seeded points, then resume: the destination equals the model after every
    phase, and nothing the destination acknowledged is sent again (write-ahead in-flight
    records + reconcile by reading back), except where the API cannot be read back."""
    plan = KILLS[name]
    rng = random.Random(SEED)
    env = dest_env(name, n=plan.rows, options=_small_batches(name))
    if workers:
        env.child_env.update(ENCODE_AHEAD)
    t = env.target
    table, sel = f"{SCHEMA}.{t.table}", t.row_id
    log: list[str] = []
    kills = 0

    # Phase A: the first sync, killed repeatedly at hook points.
    kills += _chain(env, rng, plan.chained, log)
    _finish(env)
    env.assert_destination_equals_model()

    # Phase B: changed identifiers, removals and new rows, killed again.
    env.exec(
        f"UPDATE {table} SET email = replace(replace(email, 'Person', 'Human'), "
        f"'person', 'human') WHERE {sel} LIKE '%3'"
    )
    env.exec(f"DELETE FROM {table} WHERE {sel} >= '{_uid(plan.rows * 94 // 100)}'")
    insert(env.db, t.table, t.make_rows(plan.rows // 30, seed=99, start=5000))
    kills += _chain(env, rng, plan.chained, log)
    _finish(env)
    env.assert_destination_equals_model()

    # Phase C: changed attributes and removals, killed from outside at random instants.
    env.exec(f"UPDATE {table} SET city = 'Changed-C' WHERE {sel} SIMILAR TO '.*[0-5]'")
    env.exec(
        f"DELETE FROM {table} WHERE {sel} >= '{_uid(plan.rows * 87 // 100)}' "
        f"AND {sel} < '{_uid(plan.rows * 94 // 100)}'"
    )
    timed = _timed_kills(env, rng, plan.timed, log)
    kills += timed
    assert _finish(env)["status"] == "success"

    print(f"{name}: {kills} kills ({timed} timed)", *log, sep="\n")
    assert kills >= plan.at_least, log
    env.assert_destination_equals_model()
    assert env.sql("SELECT count(*) FROM reverse_etl.inflight") == [(0,)]
    assert env.sql("SELECT count(*) FROM reverse_etl.sync_state")[0][0] == len(env.model_rows())
    statuses = collections.Counter(r[0] for r in env.sql("SELECT status FROM reverse_etl.runs"))
    assert statuses["running"] == 0 and statuses["interrupted"] >= kills - timed
    # Braze (profile export), Meta (upload sessions), HubSpot (contacts and list
    # memberships) and Marketo (leads and list memberships) read an in-flight batch back after
    # a kill: nothing they acknowledged is sent again. The Google APIs cannot be read back;
    # the in-flight batch is re-sent (harmless: membership is a set), at most once per kill.
    sends = t.sends(env.emulator)
    if name in ("braze", "meta", "hubspot", "marketo"):
        _assert_no_double_send(env)
    else:
        batch = 50
        assert max(sends.values()) <= 1 + kills
        assert sum(v - 1 for v in sends.values()) <= kills * batch
    # a rerun after everything is done sends nothing
    calls = env.emulator.stats["requests"]
    assert _finish(env)["counts"] == {"unchanged": len(env.model_rows())}
    assert env.emulator.stats["requests"] == calls


# --- secrets --------------------------------------------------------------------------------------
def _cli(*args: str):
    group = click.Group("audiences")
    for c in cli.commands:
        group.add_command(c)
    return CliRunner().invoke(group, list(args))


def _revoke(emu) -> None:
    """The destination stops accepting the credential the sync sends."""
    if hasattr(emu.config, "keys"):  # Braze REST API keys
        emu.config.keys = {}
    else:
        emu.config.tokens = {"another-token"}


@pytest.mark.parametrize("name", EVERY)
def test_secrets_never_leak(dest_env, name, caplog, monkeypatch):
    """The credentials never appear in results, CLI output, logs, exception texts, state
    tables or the DuckDB file, even when the API echoes them back in an error."""
    caplog.set_level(logging.DEBUG)
    env = dest_env(name, n=90, options=_small_batches(name))
    config = str(env.write_syncs())
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(env.db))
    monkeypatch.setenv("AUDIENCES_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("AUDIENCES_RETRY_MAX_WAIT", "0.05")
    monkeypatch.setenv("AUDIENCES_HTTP_TIMEOUT", "0.5")
    # every exception a destination raises from an API answer
    raised: list[str] = []
    build = env.factory

    def recording(sync):
        dest = build(sync)
        check = dest.check_response

        def check_response(resp):
            try:
                check(resp)
            except Exception as exc:
                raised.append(f"{exc!s} {exc!r}")
                raise

        dest.check_response = check_response
        return dest

    env.factory = recording
    emu, path = env.emulator, env.target.write_path
    secrets = [SECRETS[v] for v in SECRET_VARS[name]]
    echo = f"token {' '.join(secrets)} is expired"
    emu.inject_fault(500, count=2, path=path)
    status, body = THROTTLE[name]
    emu.inject_fault(status, count=1, path=path, body=body)
    emu.inject_fault(timeout=0.5, count=1, path=path)
    # an API that echoes the credential back in its error message
    emu.inject_fault(
        401,
        count=1,
        path=path,
        body={
            "status": "error",
            "message": echo,
            "category": "INVALID_AUTHENTICATION",
            "error": {"message": echo, "code": 190, "status": "UNAUTHENTICATED"},
        },
    )
    # (left for the next run; HubSpot: its list membership write)
    emu.inject_fault(500, count=1, path=env.target.extra_write_path or path)
    texts = []
    r1 = env.run(retry_policy=_fast(timeout_seconds=0.3))
    texts.append(json.dumps(r1.as_dict()))
    assert r1.status == "failed" and "***" in r1.error
    r2 = _cli("sync", "--config", config, "--json", "-v")
    texts.append(r2.output)
    assert r2.exit_code == 0, r2.output
    assert not emu.faults  # every injected fault was hit
    table, sel = f"{SCHEMA}.{env.target.table}", env.target.row_id
    # a poisoned row, a credential the destination no longer accepts, an unreachable API
    env.exec(f"UPDATE {table} SET email = 'x@@y' WHERE {sel} = 'u0000004'")
    texts.append(json.dumps(env.run().as_dict()))
    texts.append(_cli("sync", "--config", config, "-v").output)
    env.exec(f"UPDATE {table} SET first_name = 'Rome' WHERE {sel} = 'u0000005'")
    _revoke(emu)
    r4 = env.run()
    texts.append(json.dumps(r4.as_dict()))
    assert r4.status == "failed" and SECRET_VARS[name][0] in r4.error, r4.error
    r4cli = _cli("sync", "--config", config, "-v")
    texts.append(r4cli.output)
    assert r4cli.exit_code == 1, r4cli.output
    monkeypatch.setenv(
        next(k for k in env.target.env(emu) if k.endswith(("URL", "ENDPOINT"))),
        "http://127.0.0.1:9",
    )
    r5 = env.run(retry_policy=_fast(max_attempts=2))
    texts.append(json.dumps(r5.as_dict()))
    assert r5.status == "failed" and "connection failed" in r5.error
    texts.append(_cli("sync", "--config", config, "-v").output)
    for cmd in (["status"], ["status", "--json"], ["plan", "--json"], ["plan"]):
        texts.append(_cli(*cmd, "--config", config).output)
    texts.append(caplog.text)
    assert raised and any("***" in r for r in raised)
    texts.extend(raised)
    for t in ("sync_state", "inflight", "runs", "rejections"):
        texts.append(repr(env.sql(f"SELECT * FROM reverse_etl.{t}")))
    errors = [r[0] for r in env.sql("SELECT error FROM reverse_etl.runs WHERE error IS NOT NULL")]
    assert any("***" in e for e in errors)  # the echo was redacted, not dropped
    joined = "\n".join(texts)
    assert "connection failed" in joined
    data = env.db.read_bytes()
    wal = env.db.with_suffix(".duckdb.wal")
    if wal.exists():
        data += wal.read_bytes()
    for s in secrets:
        assert s not in joined
        assert s.encode() not in data


def _tighten(name: str, emu) -> None:
    """Each emulator enforcing its own API's limit with a tiny window."""
    c = emu.config
    if name == "braze":
        c.requests_per_window, c.window_seconds = 3, 1.0
    elif name == "meta":
        c.hourly_base, c.per_audience, c.window_seconds = 3, 0, 1.0
    elif name == "google_data_manager":
        c.dm_per_minute, c.dm_minute_seconds = 3, 1.0
    elif name == "hubspot":  # (+ Retry-After, which HubSpot may send: it is honoured)
        c.burst, c.window_seconds, c.retry_after = 3, 1.0, True
    elif name == "marketo":  # 606 in an HTTP 200 body
        c.calls_per_window, c.window_seconds = 3, 1.0
    else:
        c.ads_per_window, c.ads_window_seconds = 3, 1.0


@pytest.mark.parametrize("name", EVERY)
def test_rate_limited_by_emulator_window_recovers(dest_env, name):
    """Client limiter off, the emulator enforcing a small window: 429s (Meta: 80003), then
    success; every throttled request was retried."""
    env = dest_env(name, n=300, options=_small_batches(name))
    _tighten(name, env.emulator)
    res = env.run(retry_policy=_fast(max_attempts=30, base_seconds=0.05, max_wait_seconds=0.3))
    assert res.status == "success", res.error
    assert env.emulator.throttled > 0 and res.counts["retries"] == env.emulator.throttled
    env.assert_destination_equals_model()
    _assert_no_double_send(env)


@pytest.mark.parametrize("name", EVERY)
def test_client_limiter_keeps_under_the_ceiling(dest_env, name):
    """The client-side limiter at the emulator's own limit: not a single throttled call."""
    env = dest_env(
        name,
        n=200,
        options=_small_batches(name),
        rate_limit={"requests": 3, "window_seconds": 1.15},
    )
    _tighten(name, env.emulator)
    res = env.run()
    assert res.status == "success" and env.emulator.throttled == 0
    env.assert_destination_equals_model()


# Each API's long quota (its emulator's setting) and what the error says: the next run
# resumes. (Braze has no daily quota.)
QUOTA = {
    "meta": "hourly_base",
    "google_data_manager": "dm_per_day",
    "google_ads": "ads_daily_operations",
    "hubspot": "daily",
    "marketo": "daily",
}
RESUMES = {
    "meta": "resumes on the next run",
    "google_data_manager": "resumes on the next run",
    "google_ads": "resumes on the next run",
    "hubspot": "the sync resumes where it stopped on the next run after the reset",
    "marketo": "the sync resumes where it stopped on the next run after the quota resets",
}


@pytest.mark.parametrize("name", list(QUOTA))
def test_long_quota_stops_the_run_clearly_and_the_next_run_resumes(dest_env, name):
    env = dest_env(name, n=200, options=_small_batches(name))
    c = env.emulator.config
    if name == "meta":  # a budget per rolling hour, answered with 80003 + time to regain
        c.hourly_base, c.per_audience = 4, 0
    elif name == "google_data_manager":  # 100,000 requests per project and day
        c.dm_per_day = 2
    elif name in ("hubspot", "marketo"):  # the daily API limit (HubSpot 429 DAILY, Marketo 607)
        c.daily = 4
    else:  # 15,000 addOperations per developer token and day
        c.ads_daily_operations = 2
    res = env.run()
    assert res.status == "failed"
    assert RESUMES[name] in res.error, res.error
    setattr(c, QUOTA[name], None)  # the quota is back
    res2 = env.run()
    assert res2.status == "success", res2.error
    env.assert_destination_equals_model()


@pytest.mark.parametrize("name", EVERY)
def test_python_heap_does_not_grow_with_rows(dest_env, name):
    """Python holds one page of the diff and one batch, never the model
    (docs/decisions/0003-sync-state-in-the-warehouse.md)."""
    env = dest_env(name, n=300, options=_small_batches(name))
    peaks = []
    for extra in (0, 900):
        if extra:
            insert(env.db, env.target.table, env.target.make_rows(extra, start=1000))
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
    "hubspot": "HUBSPOT_ACCESS_TOKEN",
    "marketo": "MARKETO_CLIENT_SECRET",
}


@pytest.mark.parametrize("name", EVERY)
def test_missing_credential_is_a_clear_error(dest_env, monkeypatch, name):
    env = dest_env(name, n=5)
    monkeypatch.delenv(CREDENTIAL[name])
    res = env.run()
    assert res.status == "failed" and f"{CREDENTIAL[name]} is not set" in res.error
    assert env.emulator.stats["requests"] == 0


@pytest.mark.parametrize("name", EVERY)
def test_duplicate_identity_is_refused(dest_env, name):
    env = dest_env(name, n=20)
    t = env.target
    table, sel = f"{SCHEMA}.{t.table}", t.row_id
    dup = next(r[t.identity] for r in env.model_rows() if r[sel] == "u0000004")
    env.exec(f"UPDATE {table} SET {t.identity} = ? WHERE {sel} = 'u0000005'", (dup,))
    res = env.run()
    assert res.status == "failed" and "not unique" in res.error and dup in res.error
    assert env.emulator.stats["requests"] == 0


@pytest.mark.parametrize("name", EVERY)
def test_safety_brake_and_dry_run_apply_nothing(dest_env, name):
    env = dest_env(name, n=100, max_removal_pct=10)
    plan = env.run(dry_run=True)
    assert plan.status == "dry_run" and plan.planned.added == 100
    assert env.target.holdings(env.emulator) == set()  # (Data Manager may validateOnly)
    assert env.run().status == "success"
    table, sel = f"{SCHEMA}.{env.target.table}", env.target.row_id
    env.exec(f"DELETE FROM {table} WHERE {sel} < 'u0000020'")  # 20 % > 10 %
    calls = env.emulator.stats["requests"]
    res = env.run()
    assert res.status == "refused" and "safety brake" in res.error and "20 of 100" in res.error
    assert env.emulator.stats["requests"] == calls
    assert len(env.target.holdings(env.emulator)) == 100
