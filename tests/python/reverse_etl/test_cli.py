"""CLI commands: sync / plan / status output, --json, exit codes, sandbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import click
import requests
from click.testing import CliRunner
from retl_support import TABLE, write_manifest

from audiences_emulators.hubspot import SANDBOX_TOKEN
from reverse_etl import cli


def _group() -> click.Group:
    g = click.Group("audiences")
    for c in cli.commands:
        g.add_command(c)
    return g


def _invoke(env, *args):
    return CliRunner().invoke(_group(), [args[0], "--config", str(env.config_path), *args[1:]])


def test_plan_json_then_dry_run_then_sync_and_status(make_env, monkeypatch):
    env = make_env(n=40)
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(env.db_path))
    r = _invoke(env, "plan", "--json", "--samples", "2")
    assert r.exit_code == 0, r.output
    plan = json.loads(r.output)["plans"][0]
    assert plan["counts"] == {"added": 40, "changed": 0, "removed": 0, "unchanged": 0}
    assert [s["key"] for s in plan["samples"]["add"]] == [
        "person0000000@example.com",
        "person0000001@example.com",
    ]
    assert plan["samples"]["add"][0]["fields"]["email"] == "person0000000@example.com"
    r = _invoke(env, "sync", "--dry-run")
    assert r.exit_code == 0 and "add" in r.output and env.emulator.api_calls == 0
    r = _invoke(env, "sync", "--json")
    assert r.exit_code == 0
    out = json.loads(r.output)["results"][0]
    assert out["status"] == "success" and out["counts"]["added"] == 40
    r = _invoke(env, "sync")
    assert r.exit_code == 0 and "sync summary" in r.output
    r = _invoke(env, "status", "--json")
    runs = json.loads(r.output)["runs"]
    assert [x["status"] for x in runs] == ["success", "success"]
    assert runs[0]["counts"]["unchanged"] == 40 and runs[1]["counts"]["added"] == 40


def test_exit_codes_partial_refused_failed(make_env, monkeypatch):
    env = make_env(n=20)
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(env.db_path))
    env.exec(f"UPDATE main_audiences.{TABLE} SET email = 'nope@@x' WHERE user_id = 'u0000003'")
    r = _invoke(env, "sync")
    assert r.exit_code == 3 and "1 row(s) rejected" in r.output and "nope@@x" in r.output
    r = _invoke(env, "status")
    assert "rejected rows" in r.output and "nope@@x" in r.output
    write_manifest(env.root / "target", test_status="fail")
    assert _invoke(env, "sync").exit_code == 4
    assert _invoke(env, "sync", "--ignore-tests").exit_code == 3
    r = _invoke(env, "sync", "unknown_sync")
    assert r.exit_code == 1 and "no sync named 'unknown_sync'" in r.output


def test_sandbox_start_env_stop(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[3]))
    port = 18765 + os.getpid() % 1000
    runner = CliRunner()
    r = runner.invoke(_group(), ["sandbox", "start", "--port", str(port), "--config", "absent.yml"])
    assert r.exit_code == 0 and "started" in r.output, r.output
    try:
        r2 = runner.invoke(_group(), ["sandbox", "start", "--port", str(port)])
        assert "already running" in r2.output
        assert (tmp_path / ".sandbox" / "hubspot.port").read_text() == str(port)
        env = runner.invoke(_group(), ["sandbox", "env"]).output
        assert f"export HUBSPOT_BASE_URL=http://127.0.0.1:{port}" in env
        assert f"export HUBSPOT_ACCESS_TOKEN={SANDBOX_TOKEN}" in env
        resp = requests.get(
            f"http://127.0.0.1:{port}/crm/v3/lists/object-type-id/0-1/name/x",
            headers={"Authorization": f"Bearer {SANDBOX_TOKEN}"},
        )
        assert resp.status_code == 404
    finally:
        r3 = runner.invoke(_group(), ["sandbox", "stop"])
    assert "stopped" in r3.output
    time.sleep(0.1)
    assert runner.invoke(_group(), ["sandbox", "stop"]).output.strip() == "not running"


def test_emulator_module_entry_point():
    out = subprocess.run(
        [sys.executable, "-m", "audiences_emulators", "hubspot", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])},
    )
    assert "--burst" in out.stdout and "--reject-mode" in out.stdout


def test_dry_run_stops_at_the_safety_brake_like_a_sync(make_env, monkeypatch):
    """`sync --dry-run` runs the safety brake (it used to only print the plan)."""
    env = make_env(n=200)
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(env.db_path))
    assert _invoke(env, "sync").exit_code == 0
    calls = env.emulator.api_calls
    env.exec(f"DELETE FROM main_audiences.{TABLE} WHERE email < 'person0000050@example.com'")
    r = _invoke(env, "sync", "--dry-run", "--json")
    assert r.exit_code == 4, r.output
    out = json.loads(r.output)["results"][0]
    assert out["status"] == "refused" and "safety brake" in out["error"]
    assert "50 of 200" in out["error"]
    assert env.emulator.api_calls == calls  # nothing sent
