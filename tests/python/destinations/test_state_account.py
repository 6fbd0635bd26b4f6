"""Sync state is bound to the destination account it describes.

Before: the state was keyed by the sync's name only, so the same sync pointed at another ad
account (or HubSpot portal, Braze workspace, base URL) sent nothing: the state said every
member was already there. Now such a run is refused with a message saying how to proceed,
and ``--new-account`` (``new_account=True``) starts fresh state on the new account.
"""

from __future__ import annotations

from reverse_etl.state import StateStore
from reverse_etl.warehouse.duckdb import DuckDBWarehouse


def _accounts(env) -> list[tuple[str, str]]:
    return env.sql("SELECT sync_name, account FROM reverse_etl.sync_accounts")


def _audience_accounts(emu) -> dict[str, int]:
    with emu.lock:
        return {a["account"]: len(a["members"]) for a in emu.audiences.values()}


def test_another_meta_ad_account_is_refused_then_synced_in_full_with_new_account(dest_env):
    env = dest_env("meta", n=30)
    first = env.run()
    assert first.status == "success" and first.counts["added"] == 30
    assert _audience_accounts(env.emulator) == {"1001": 30}
    assert _accounts(env) == [("meta_sync", "http://127.0.0.1 act_1001")]

    # the same sync, pointed at another ad account
    options = {**env.sync.options, "ad_account_id": "act_2002"}
    env.sync = env.sync.model_copy(update={"options": options})
    calls = env.emulator.api_calls
    refused = env.run()
    assert refused.status == "refused", refused
    assert "another meta account" in refused.error and "act_2002" in refused.error
    assert "act_1001" in refused.error and "--new-account" in refused.error
    assert env.emulator.api_calls == calls  # nothing sent
    dry = env.run(dry_run=True)
    assert dry.status == "refused" and "--new-account" in dry.error

    fresh = env.run(new_account=True)
    assert fresh.status == "success" and fresh.counts["added"] == 30
    assert _audience_accounts(env.emulator) == {"1001": 30, "2002": 30}
    assert _accounts(env) == [("meta_sync", "http://127.0.0.1 act_2002")]
    again = env.run()
    assert again.status == "success" and again.counts == {"unchanged": 30}


def test_another_hubspot_base_url_or_portal_is_not_a_silent_no_op(dest_env, monkeypatch):
    env = dest_env("hubspot", n=20)
    assert env.run().counts["added"] == 20
    # another host (same emulator, reached by another name): another account
    url = env.emulator.url.replace("127.0.0.1", "localhost")
    monkeypatch.setenv("HUBSPOT_BASE_URL", url)
    res = env.run()
    assert res.status == "refused" and "http://localhost portal=-" in res.error
    # back to the first host: the state is still there and still bound
    monkeypatch.setenv("HUBSPOT_BASE_URL", env.emulator.url)
    back = env.run()
    assert back.status == "success" and back.counts == {"unchanged": 20}
    # a declared portal id is part of the account too
    env.sync = env.sync.model_copy(update={"options": {**env.sync.options, "portal_id": "42"}})
    res = env.run()
    assert res.status == "refused" and "portal=42" in res.error


def test_state_written_before_accounts_existed_is_bound_to_the_current_account(tmp_path):
    wh = DuckDBWarehouse(str(tmp_path / "w.duckdb"))
    try:
        st = StateStore(wh)
        st.ensure()
        assert st.bound_account("s") is None
        assert st.bind_account("s", "meta", "https://graph.facebook.com act_1") is False
        assert st.bound_account("s") == "https://graph.facebook.com act_1"
        assert st.bind_account("s", "meta", "https://graph.facebook.com act_1") is False
    finally:
        wh.close()
