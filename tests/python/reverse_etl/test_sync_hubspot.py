"""End-to-end syncs against the HubSpot emulator over real HTTP."""

from __future__ import annotations

import collections
import time

from retl_support import LIST_NAME, MAPPING, SCHEMA, TABLE, expected_properties, make_rows

from audiences_emulators.hubspot import HubSpotConfig

T = f"{SCHEMA}.{TABLE}"


def upsert_acks(emu) -> collections.Counter:
    return collections.Counter(a.key for a in emu.acks if a.kind == "upsert")


def test_first_sync_equals_model_and_rerun_sends_nothing(make_env):
    env = make_env(n=350)
    res = env.run()
    assert res.status == "success"
    assert res.counts["added"] == 350 and res.counts["rejected"] == 0
    env.assert_destination_equals_model()
    # 4 upsert batches (100,100,100,50) + 4 list adds + list lookup + list create
    assert env.emulator.api_calls == 10
    assert upsert_acks(env.emulator) == {e: 1 for e in env.model_rows()}

    before = env.emulator.api_calls
    res2 = env.run()
    assert res2.status == "success"
    assert res2.counts == {"unchanged": 350}
    assert env.emulator.api_calls == before  # zero requests
    runs = env.sql(
        "SELECT status, added, unchanged, requests FROM reverse_etl.runs ORDER BY started_at"
    )
    assert runs == [("success", 350, 0, 10), ("success", 0, 350, 0)]


def test_only_changed_rows_are_sent(make_env):
    env = make_env(n=250)
    env.run()
    env.emulator.acks.clear()
    env.exec(
        f"UPDATE {T} SET city = 'Lyon' WHERE email IN "
        "('person0000003@example.com', 'person0000100@example.com', 'person0000201@example.com')"
    )
    # a change of a column that is not mapped must not send anything
    env.exec(f"UPDATE {T} SET as_of = as_of + INTERVAL 1 DAY")
    res = env.run()
    assert (
        res.counts["changed"] == 3 and res.counts["added"] == 0 and res.counts["unchanged"] == 247
    )
    assert sorted(upsert_acks(env.emulator)) == [
        "person0000003@example.com",
        "person0000100@example.com",
        "person0000201@example.com",
    ]
    assert [a.kind for a in env.emulator.acks].count("list_add") == 0  # already members
    env.assert_destination_equals_model()


def test_mirror_removes_only_members_it_added(make_env):
    env = make_env(n=200)
    env.run()
    emu = env.emulator
    # Someone adds a contact of their own to our list in HubSpot.
    with emu.lock:
        cid, _ = emu._write(None, "owner.added@example.com", {"firstname": "Kept"})
        lid = next(iter(emu.lists))
        emu.lists[lid]["members"][cid] = "2026-01-01T00:00:00Z"
    env.exec(
        f"DELETE FROM {T} WHERE email IN ('person0000010@example.com', 'person0000011@example.com')"
    )
    res = env.run()
    assert res.status == "success" and res.counts["removed"] == 2
    members = emu.list_members(LIST_NAME)
    assert "owner.added@example.com" in members
    assert "person0000010@example.com" not in members and "person0000011@example.com" not in members
    gone = emu.contact_by_email("person0000010@example.com")
    assert gone is not None  # never deleted
    assert gone["properties"]["audiences_segments"] == ""  # our segments cleared
    assert len(emu.contacts) == 201
    assert env.sql("SELECT count(*) FROM reverse_etl.sync_state")[0][0] == 198


def test_upsert_mode_never_removes(make_env):
    env = make_env(n=120, mode="upsert")
    env.run()
    env.exec(f"DELETE FROM {T} WHERE email < 'person0000060@example.com'")
    res = env.run()
    assert res.counts.get("removed", 0) == 0
    assert len(env.emulator.list_members(LIST_NAME)) == 120


def test_safety_brake_stops_mass_removal_before_any_request(make_env):
    env = make_env(n=200)
    env.run()
    calls = env.emulator.api_calls
    env.exec(f"DELETE FROM {T} WHERE email < 'person0000050@example.com'")  # 25 % > 10 %
    res = env.run()
    assert res.status == "refused"
    assert "safety brake" in res.error and "50 of 200" in res.error
    assert env.emulator.api_calls == calls
    assert len(env.emulator.list_members(LIST_NAME)) == 200
    assert env.sql("SELECT status FROM reverse_etl.runs ORDER BY started_at DESC LIMIT 1") == [
        ("refused",)
    ]
    # Within the brake (10 of 200 = 5 %) the removal goes through.
    env.exec(f"DELETE FROM {T} WHERE email >= 'person0000050@example.com'")
    rows = make_rows(200)
    from retl_support import insert_rows

    wh = env.warehouse()
    insert_rows(wh, [r for r in rows if "person0000010" <= r["email"] < "person0000200"])
    wh.close()
    res = env.run()
    assert res.status == "success" and res.counts["removed"] == 10


def test_daily_limit_stops_the_run_with_a_clear_error(make_env):
    env = make_env(n=500)
    env.emulator.config.daily = 5
    res = env.run()
    assert res.status == "failed" and "daily API limit" in res.error
    # lookup, create list, upsert 1, list add 1, upsert 2 -> the 6th call (list add 2) is refused
    assert env.sql("SELECT count(*) FROM reverse_etl.sync_state")[0][0] == 100
    assert env.sql("SELECT rows_count FROM reverse_etl.inflight") == [(100,)]
    # Next day: batch 2 is reconciled by reading it back (its upsert was acknowledged), not re-sent.
    env.emulator.config.daily = None
    res2 = env.run()
    assert res2.status == "success"
    assert res2.counts["reconciled"] == 100 and res2.counts["added"] == 300
    assert set(upsert_acks(env.emulator).values()) == {1}
    env.assert_destination_equals_model()


def test_full_resync_resends_everything(make_env):
    env = make_env(n=120)
    env.run()
    env.emulator.acks.clear()
    res = env.run(full_resync=True)
    assert res.counts["added"] == 120
    assert sum(upsert_acks(env.emulator).values()) == 120


def test_dry_run_sends_nothing(make_env):
    env = make_env(n=50)
    res = env.run(dry_run=True)
    assert res.status == "dry_run" and res.planned.added == 50
    assert env.emulator.api_calls == 0


def test_real_hubspot_limits_small_scale(tmp_path, monkeypatch):
    """Real free-tier limits (100 requests / rolling 10 s) on both sides: the client limiter
    keeps the sync at the ceiling without a single 429."""
    from retl_support import TOKEN, Env, create_table, emulator_config, insert_rows, write_manifest

    from audiences_emulators.hubspot import HubSpotEmulator
    from reverse_etl.warehouse.duckdb import DuckDBWarehouse

    emu = HubSpotEmulator(
        config=emulator_config(burst=100, window_seconds=10.0, daily=250_000)
    ).start()
    monkeypatch.setenv("HUBSPOT_BASE_URL", emu.url)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", TOKEN)
    try:
        wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
        create_table(wh)
        insert_rows(wh, make_rows(5500))
        wh.close()
        write_manifest(tmp_path / "target")
        env = Env(tmp_path, tmp_path / "w.duckdb", emu)
        env.write_syncs(rate_limit=None)  # the destination's published rate (free tier)
        t0 = time.monotonic()
        res = env.run()
        elapsed = time.monotonic() - t0
        assert res.status == "success" and res.counts["requests"] == 112
        assert emu.throttled == 0
        # 112 requests at 100 / 10 s: the 101st must wait for the window, the run cannot be faster.
        assert 10.0 <= elapsed < 20.0
        env.assert_destination_equals_model()
    finally:
        emu.stop()


def test_unknown_property_rejects_rows_with_the_api_message(make_env):
    env = make_env(n=10)
    env.emulator.config.custom_properties = set(MAPPING) - {"audiences_intent_tier"}
    res = env.run()
    assert res.status == "partial" and res.counts["rejected"] == 10
    assert 'Property "audiences_intent_tier" does not exist' in res.rejections[0][1]


def test_expected_properties_helper_matches_sql_rendering(make_env):
    env = make_env(n=3)
    env.run()
    for email, row in env.model_rows().items():
        assert (
            env.emulator.contact_by_email(email)["properties"]["audiences_lifetime_revenue"]
            == expected_properties(row)["audiences_lifetime_revenue"]
        )


def test_emulator_config_defaults_match_reference():
    cfg = HubSpotConfig()
    assert (cfg.burst, cfg.window_seconds, cfg.daily, cfg.batch_limit) == (100, 10.0, 250_000, 100)
