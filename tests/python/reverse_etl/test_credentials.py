"""The HubSpot token never appears in output, logs, state tables, the warehouse file or
exception texts, even when the API echoes it back in an error."""

from __future__ import annotations

import logging

import click
from click.testing import CliRunner
from retl_support import TOKEN

from reverse_etl import cli


def _group() -> click.Group:
    g = click.Group("audiences")
    for c in cli.commands:
        g.add_command(c)
    return g


def test_token_never_leaks(make_env, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    env = make_env(n=260)
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(env.db_path))
    monkeypatch.setenv("AUDIENCES_RETRY_BASE_SECONDS", "0.01")
    monkeypatch.setenv("AUDIENCES_RETRY_MAX_WAIT", "0.05")
    monkeypatch.setenv("AUDIENCES_HTTP_TIMEOUT", "0.5")
    emu = env.emulator
    emu.inject_fault(429, count=2)
    emu.inject_fault(500, count=1, path="memberships")
    emu.inject_fault(timeout=0.8, count=1, path="batch/upsert")
    # an API that echoes the credential back in its error message
    emu.inject_fault(
        401,
        count=1,
        path="batch/upsert",
        body={
            "status": "error",
            "message": f"token {TOKEN} is expired",
            "category": "INVALID_AUTHENTICATION",
        },
    )
    runner = CliRunner()
    texts = []
    r1 = runner.invoke(_group(), ["sync", "--config", str(env.config_path), "-v"])
    texts.append(r1.output)
    assert r1.exit_code == 1  # the 401 fails the run
    assert "***" in r1.output and "expired" in r1.output
    r2 = runner.invoke(_group(), ["sync", "--config", str(env.config_path), "--json", "-v"])
    texts.append(r2.output)
    assert r2.exit_code == 0, r2.output
    # a poisoned row, a wrong token and an unreachable API
    env.exec(
        "UPDATE main_audiences.aud_hubspot_contacts SET email = 'x@@y' WHERE user_id = 'u0000004'"
    )
    texts.append(runner.invoke(_group(), ["sync", "--config", str(env.config_path), "-v"]).output)
    emu.config.tokens = {"another-token"}
    env.exec(
        "UPDATE main_audiences.aud_hubspot_contacts SET city = 'Rome' WHERE user_id = 'u0000005'"
    )
    r4 = runner.invoke(_group(), ["sync", "--config", str(env.config_path), "-v"])
    texts.append(r4.output)
    assert "HubSpot refused the credentials" in r4.output
    monkeypatch.setenv("HUBSPOT_BASE_URL", "http://127.0.0.1:9")
    texts.append(runner.invoke(_group(), ["sync", "--config", str(env.config_path), "-v"]).output)
    for cmd in (["status"], ["status", "--json"], ["plan", "--json"], ["plan"]):
        texts.append(runner.invoke(_group(), [*cmd, "--config", str(env.config_path)]).output)
    texts.append(caplog.text)
    wh = env.warehouse()
    for table in ("sync_state", "inflight", "runs", "rejections"):
        texts.append(repr(wh.query(f"SELECT * FROM reverse_etl.{table}")))
    errors = [
        row[0] for row in wh.query("SELECT error FROM reverse_etl.runs WHERE error IS NOT NULL")
    ]
    wh.close()
    assert any("***" in e for e in errors)
    joined = "\n".join(texts)
    assert "HubSpot refused" in joined and "connection failed" in joined
    assert TOKEN not in joined
    wh_bytes = env.db_path.read_bytes()
    wal = env.db_path.with_suffix(".duckdb.wal")
    if wal.exists():
        wh_bytes += wal.read_bytes()
    assert TOKEN.encode() not in wh_bytes
