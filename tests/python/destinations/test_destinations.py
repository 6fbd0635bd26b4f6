"""Each destination against its emulator over real HTTP on 127.0.0.1, through the engine."""

from __future__ import annotations

import pytest
from dest_support import ALL, SCHEMA


@pytest.mark.parametrize("name", ALL)
def test_first_sync_equals_model_rerun_sends_nothing(dest_env, name):
    env = dest_env(name, n=230)
    res = env.run()
    assert res.status == "success", res.error
    assert res.counts["added"] == 230 and res.counts["rejected"] == 0
    env.assert_destination_equals_model()
    sends = env.target.sends(env.emulator)
    assert set(sends.values()) == {1}
    calls = env.emulator.stats["requests"]
    res2 = env.run()
    assert res2.status == "success" and res2.counts["unchanged"] == 230
    assert env.emulator.stats["requests"] == calls


@pytest.mark.parametrize("name", ALL)
def test_consent_withdrawal_and_changes(dest_env, name):
    """A person whose consent is withdrawn leaves the mart: the next sync removes them; a
    changed identifier replaces the old member."""
    env = dest_env(name, n=120)
    assert env.run().status == "success"
    table, ident = f"{SCHEMA}.{env.target.table}", env.target.identity
    gone = {
        r[ident]: env.target.marker(r)
        for r in env.model_rows()
        if r[ident] in ("u0000003", "u0000004")
    }
    env.exec(f"DELETE FROM {table} WHERE {ident} IN ('u0000003', 'u0000004')")
    env.exec(f"UPDATE {table} SET email = 'moved.person@example.org' WHERE {ident} = 'u0000010'")
    res = env.run()
    assert res.status == "success", res.error
    assert res.counts["removed"] == 2 and res.counts["changed"] == 1
    held = env.target.holdings(env.emulator)
    assert not set(gone.values()) & held
    env.assert_destination_equals_model()


def test_plaintext_never_leaves_the_process(dest_env):
    seen: list[bytes] = []
    for name in ("meta", "google_data_manager", "google_ads"):
        env = dest_env(name, n=40)
        original = env.emulator.handle

        def spy(req, original=original):
            seen.append(req.raw + repr(req.query).encode())
            return original(req)

        env.emulator.handle = spy
        assert env.run().status == "success"
        env.exec(f"DELETE FROM {SCHEMA}.{env.target.table} WHERE user_id = 'u0000001'")
        assert env.run().counts["removed"] == 1
    blob = b"\n".join(seen).lower()
    assert b"@example.com" not in blob and b"person0000001" not in blob
    assert b"(650)" not in blob and b"16505550" not in blob  # no phone in clear
    for plain in (b"chlo", b"smith", b"o'brien", b"paris"):
        assert plain not in blob


@pytest.mark.skipif(
    "where" not in __import__("reverse_etl.config").config.SyncConfig.model_fields,
    reason="needs the sync-level row filter ('where') in config.py / diff.py",
)
@pytest.mark.parametrize("name", ["meta", "google_data_manager"])
def test_one_audience_per_segment_through_the_row_filter(dest_env, name):
    from dest_support import ads_rows, insert

    env = dest_env(name, n=50, where={"segment_key": "high_value"})
    other = [{**r, "segment_key": "champions"} for r in ads_rows(20, seed=3)]
    insert(env.db, env.target.table, other)
    res = env.run()
    assert res.status == "success" and res.counts["added"] == 50
    expected = {env.target.marker(r) for r in env.model_rows() if r["segment_key"] == "high_value"}
    assert env.target.holdings(env.emulator) == expected


def test_dry_run_validates_with_validate_only(dest_env):
    env = dest_env("google_data_manager", n=30)
    env.exec(
        # a malformed email and nothing else usable (a bad email alone only drops the email)
        f"UPDATE {SCHEMA}.aud_google_customer_match SET email = 'x@@y', phone = NULL, "
        "first_name = NULL WHERE user_id = 'u0000002'"
    )
    res = env.run(dry_run=True)
    assert res.status == "dry_run" and res.counts == {"validated": 30, "invalid": 1}
    assert env.emulator.dm_list("1234567890", "555") == set()


def test_cli_dry_run_is_the_engine_dry_run_with_validate_only(dest_env, monkeypatch):
    """`audiences sync --dry-run` validates with Google (it used to only print the plan)."""
    import json

    import click
    from click.testing import CliRunner

    from reverse_etl import cli

    env = dest_env("google_data_manager", n=30)
    env.exec(
        # a malformed email and nothing else usable (a bad email alone only drops the email)
        f"UPDATE {SCHEMA}.aud_google_customer_match SET email = 'x@@y', phone = NULL, "
        "first_name = NULL WHERE user_id = 'u0000002'"
    )
    config = str(env.write_syncs())
    monkeypatch.setenv("AUDIENCES_DUCKDB_PATH", str(env.db))
    group = click.Group("audiences")
    for c in cli.commands:
        group.add_command(c)
    r = CliRunner().invoke(group, ["sync", "--config", config, "--dry-run", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)["results"][0]
    assert out["status"] == "dry_run" and out["counts"] == {"validated": 30, "invalid": 1}
    assert out["planned"]["added"] == 30
    assert [x["key"] for x in out["rejections"]] == ["u0000002"]
    assert env.emulator.dm_list("1234567890", "555") == set()
