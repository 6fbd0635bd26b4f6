"""Consent and erasure across every destination: each destination receives only its audience
mart (consent applied there), so a person who withdraws ads consent leaves the ad platforms on
the next sync, and an erased person (gone from every mart) is removed everywhere, HubSpot
included."""

from __future__ import annotations

import sys
from pathlib import Path

from dest_support import (
    SCHEMA,
    Env,
    ads_rows,
    braze_rows,
    create_tables,
    insert,
    make_sync,
    targets,
    write_manifest,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reverse_etl"))
import retl_support as hubspot_support

from audiences_emulators.hubspot import HubSpotEmulator
from reverse_etl.destinations.hubspot import HubSpotDestination
from reverse_etl.warehouse.duckdb import DuckDBWarehouse

N = 40
ERASED = "u0000003"
WITHDRAWN = "u0000004"  # withdraws ads consent only: stays in HubSpot / Braze


def _world(tmp_path, monkeypatch):
    db = tmp_path / "w.duckdb"
    create_tables(db)
    insert(db, "aud_braze_users", braze_rows(N))
    insert(db, "aud_meta_custom_audience", ads_rows(N))
    insert(db, "aud_google_customer_match", ads_rows(N))
    wh = DuckDBWarehouse(str(db))
    hubspot_support.create_table(wh)
    hubspot_support.insert_rows(wh, hubspot_support.make_rows(N))
    wh.close()
    write_manifest(tmp_path / "target", {hubspot_support.TABLE: SCHEMA})
    envs: dict[str, Env] = {}
    for name, t in targets().items():
        emu = t.make_emulator().start()
        for k, v in t.env(emu).items():
            monkeypatch.setenv(k, v)
        envs[name] = Env(tmp_path, db, t, emu, make_sync(t))
    hs = HubSpotEmulator(config=hubspot_support.emulator_config()).start()
    monkeypatch.setenv("HUBSPOT_BASE_URL", hs.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", hubspot_support.TOKEN)
    return db, envs, hs


def _hubspot_sync():
    from reverse_etl.config import SyncConfig

    return SyncConfig.model_validate(
        {
            "name": "hubspot_contacts",
            "model": hubspot_support.TABLE,
            "destination": "hubspot",
            "mode": "mirror",
            "identity": "email",
            "list": hubspot_support.LIST_NAME,
            "max_removal_pct": 50,
            "mapping": hubspot_support.MAPPING,
            "rate_limit": "off",
            "options": {"clear_on_removal": ["audiences_segments"]},
        }
    )


def _run_all(envs: dict[str, Env], hs_env: Env) -> dict[str, dict]:
    out = {name: env.run() for name, env in envs.items()}
    out["hubspot"] = hs_env.run()
    assert all(r.status == "success" for r in out.values()), {k: r.error for k, r in out.items()}
    return {k: r.counts for k, r in out.items()}


def test_withdrawal_and_erasure_reach_every_destination(tmp_path, monkeypatch):
    db, envs, hs = _world(tmp_path, monkeypatch)
    hs_env = Env(tmp_path, db, targets()["braze"], hs, _hubspot_sync())
    hs_env.factory = lambda sync: HubSpotDestination.from_sync(sync)
    try:
        _run_all(envs, hs_env)
        erased_markers = {
            name: {
                env.target.marker(r) for r in env.model_rows() if r[env.target.identity] == ERASED
            }
            for name, env in envs.items()
        }
        withdrawn = {
            name: {
                env.target.marker(r)
                for r in env.model_rows()
                if r[env.target.identity] == WITHDRAWN
            }
            for name, env in envs.items()
        }
        for name, env in envs.items():
            assert erased_markers[name] <= env.target.holdings(env.emulator), name
        erased_email = f"person{int(ERASED[1:]):07d}@example.com"
        assert erased_email in hs.list_members(hubspot_support.LIST_NAME)

        # The marts are rebuilt: the erased person is in none, the withdrawn one only leaves
        # the ads-consent marts.
        for table, col in (
            ("aud_braze_users", "external_id"),
            ("aud_meta_custom_audience", "user_id"),
            ("aud_google_customer_match", "user_id"),
            (hubspot_support.TABLE, "user_id"),
        ):
            envs["braze"].exec(f"DELETE FROM {SCHEMA}.{table} WHERE {col} = '{ERASED}'")
        for table in ("aud_meta_custom_audience", "aud_google_customer_match"):
            envs["braze"].exec(f"DELETE FROM {SCHEMA}.{table} WHERE user_id = '{WITHDRAWN}'")
        counts = _run_all(envs, hs_env)

        for name, env in envs.items():
            held = env.target.holdings(env.emulator)
            assert not erased_markers[name] & held, name
            if name == "braze":
                assert withdrawn[name] <= held  # email consent kept: still messaged
                assert counts[name]["removed"] == 1
            else:
                assert not withdrawn[name] & held, name
                assert counts[name]["removed"] == 2
            env.assert_destination_equals_model()
        assert erased_email not in hs.list_members(hubspot_support.LIST_NAME)
        assert counts["hubspot"]["removed"] == 1
        erased_profile = envs["braze"].emulator.users[ERASED]
        assert erased_profile == {"external_id": ERASED, "audiences_segments": []}
    finally:
        for env in envs.values():
            env.emulator.stop()
        hs.stop()
