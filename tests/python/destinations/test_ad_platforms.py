"""Meta Custom Audiences, Google Data Manager and Google Ads specifics against their
emulators over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dest_support import ACCOUNT, FAST_RETRY, SCHEMA, USER_LIST, build, make_sync, targets

from reverse_etl.core.records import Record
from reverse_etl.http.ratelimit import NoLimiter
from reverse_etl.http.transport import HttpTransport, RetryPolicy

T = f"{SCHEMA}.aud_meta_custom_audience"


def transport_for(env) -> tuple[object, HttpTransport]:
    dest = build(env.sync)
    base, headers = dest.http_config()
    return dest, HttpTransport(base, headers, dest.check_response, NoLimiter(), FAST_RETRY)


# --- Meta ------------------------------------------------------------------------------------
def test_meta_creates_the_audience_once_with_customer_file_source(dest_env):
    env = dest_env("meta", n=30)
    assert env.run().status == "success"
    aud = env.emulator.audience_by_name("Audiences | high_value")
    assert aud["customer_file_source"] == "USER_PROVIDED_ONLY" and aud["account"] == "1001"
    env.exec(f"UPDATE {T} SET city = 'Lyon'")
    assert env.run().status == "success"
    assert len(env.emulator.audiences) == 1  # found by name, not created again
    schema = next(iter(env.emulator.members("Audiences | high_value")))
    assert {k for k, _ in schema} <= {
        "EXTERN_ID",
        "EMAIL",
        "PHONE",
        "FN",
        "LN",
        "CT",
        "ST",
        "ZIP",
        "COUNTRY",
        "DOBY",
        "DOBM",
        "DOBD",
        "GEN",
    }
    assert env.emulator.versions["25"] > 0


def test_meta_throttle_803_and_session_fields(dest_env):
    env = dest_env("meta", n=50)
    env.emulator.config.reject_first_write = True  # (#803) right after creation
    env.emulator.config.hourly_base = 2  # 2 + 0 x audiences calls per "hour"
    env.emulator.config.per_audience = 0
    env.emulator.config.window_seconds = 1.0
    seen = []
    original = env.emulator.handle
    env.emulator.handle = lambda req: (seen.append(req), original(req))[1]
    res = env.run(
        retry_policy=RetryPolicy(
            max_attempts=30, base_seconds=0.05, max_wait_seconds=0.2, timeout_seconds=2
        )
    )
    assert res.status == "success", res.error
    assert env.emulator.throttled > 0 and res.counts["retries"] >= env.emulator.throttled + 1
    env.assert_destination_equals_model()
    uploads = [json.loads(r.raw) for r in seen if r.path.endswith("/users")]
    assert all(u["session"]["batch_seq"] == 1 and u["session"]["last_batch_flag"] for u in uploads)
    aud = env.emulator.audience_by_name("Audiences | high_value")
    assert all(s["stage"] == "finished" for s in aud["sessions"].values())


def test_meta_invalid_entries_become_rejections(dest_env):
    env = dest_env("meta", n=40)
    emu = env.emulator
    bad_hash = targets()["meta"].marker(env.model_rows()[17])
    orig = emu._valid_rows

    def flag(schema, rows):  # Meta refuses one row it cannot use
        good, bad, samples = orig(schema, [r for r in rows if bad_hash not in r])
        n = sum(1 for r in rows if bad_hash in r)
        return good, bad + n, {**samples, **({"0": "Invalid entry"} if n else {})}

    emu._valid_rows = flag
    res = env.run()
    assert res.status == "partial" and res.counts["rejected"] == 1
    assert res.rejections[0][0] == env.model_rows()[17]["user_id"]
    assert "num_invalid_entries" in res.rejections[0][1]


def test_meta_replace_uses_one_session_in_order(dest_env):
    env = dest_env("meta", n=25)
    assert env.run().status == "success"
    dest, tr = transport_for(env)
    dest.prepare(tr)
    rows = env.model_rows()[:7]
    recs = [
        Record(
            r["user_id"],
            "add",
            None,
            {k: "" if r[c] is None else str(r[c]) for k, c in env.sync.mapping.items()},
        )
        for r in rows
    ]
    results = list(dest.replace(tr, [recs[:3], recs[3:6], recs[6:]], total=7))
    assert [len(b) for b in results] == [3, 3, 1]
    aud = env.emulator.audience_by_name("Audiences | high_value")
    replace = [s for s in aud["sessions"].values() if s["batches"] == [1, 2, 3]]
    assert len(replace) == 1 and replace[0]["stage"] == "finished"
    assert env.emulator.member_values("Audiences | high_value", "EMAIL") == {
        targets()["meta"].marker(r) for r in rows
    }
    # a replace that does not start at batch_seq 1 is refused by Meta (2650 / 1870147)
    resp = tr.session.post(
        f"{tr.base_url}/{aud['id']}/usersreplace",
        json={
            "access_token": tr.session.headers.get("x") or dest._token,
            "payload": {"schema": "EMAIL_SHA256", "data": ["a" * 64]},
            "session": {"session_id": 7, "batch_seq": 2, "last_batch_flag": True},
        },
    )
    assert resp.json()["error"]["error_subcode"] == 1870147


# --- Google Data Manager -------------------------------------------------------------------------
def test_data_manager_consent_request_ids_and_429(dest_env):
    env = dest_env(
        "google_data_manager",
        n=60,
        options={"account_id": ACCOUNT, "user_list_id": USER_LIST, "batch_size": 20},
    )
    emu = env.emulator
    emu.config.dm_per_minute = 1
    emu.config.dm_minute_seconds = 1.0
    res = env.run(
        retry_policy=RetryPolicy(
            max_attempts=20, base_seconds=5, max_wait_seconds=5, timeout_seconds=2
        )
    )
    assert res.status == "success" and emu.throttled > 0
    env.assert_destination_equals_model()
    assert len(emu.request_ids) == 3 and res.counts["request_ids"] == 3
    recorded = env.sql("SELECT request_id FROM reverse_etl.google_dm_requests ORDER BY 1")
    assert [r for (r,) in recorded] == sorted(emu.request_ids)
    assert {json.dumps(c, sort_keys=True) for c in emu.dm_consent.values()} == {
        json.dumps(
            {"adPersonalization": "CONSENT_GRANTED", "adUserData": "CONSENT_GRANTED"},
            sort_keys=True,
        )
    }


def test_data_manager_validate_only_applies_nothing(dest_env):
    env = dest_env("google_data_manager", n=12)
    dest, tr = transport_for(env)
    recs = [
        Record(
            r["user_id"],
            "add",
            None,
            {k: "" if r[c] is None else str(r[c]) for k, c in env.sync.mapping.items()},
        )
        for r in env.model_rows()
    ]
    # a member whose only identifier is a malformed email cannot be sent
    unusable = {**recs[4].fields, "email": "x@@y", "phone": "", "first_name": ""}
    recs[4] = Record(recs[4].key, "add", None, unusable)
    # a malformed phone only drops the phone: the member is sent with its email
    recs[5] = Record(recs[5].key, "add", None, {**recs[5].fields, "phone": "not a phone"})
    res = dest.validate(tr, recs)
    assert sum(r.outcome.value == "acked" for r in res) == 11
    assert res[4].error == (
        "no usable identifier (email, phone or full address; email is malformed; values "
        "withheld); fix it in the model"
    )
    assert res[5].outcome.value == "acked" and res[5].dropped == ("phone",)
    assert env.emulator.dm_list(ACCOUNT, USER_LIST) == set() and len(dest.request_ids) == 1


def test_data_manager_field_violation_rejects_only_that_member(dest_env):
    env = dest_env("google_data_manager", n=30)
    orig = env.emulator._dm_parse
    victim = targets()["google_data_manager"].marker(env.model_rows()[5])

    def picky(req, removing):  # Google refuses one member, wherever it is in the request
        out = orig(req, removing)
        members = req.body["audienceMembers"]
        idx = [
            i
            for i, m in enumerate(members)
            if {"emailAddress": victim} in m["userData"]["userIdentifiers"]
        ]
        if idx:
            from audiences_emulators.google import _google_error

            return (
                [],
                [],
                [],
                _google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "bad",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": [
                                {
                                    "field": f"audience_members[{idx[0]}].user_data."
                                    "user_identifiers[0]",
                                    "description": "Invalid hashed value",
                                }
                            ],
                        }
                    ],
                ),
            )
        return out

    env.emulator._dm_parse = picky
    res = env.run()
    assert res.status == "partial" and res.counts["rejected"] == 1 and res.counts["added"] == 29
    assert "Invalid hashed value" in res.rejections[0][1]


# --- Google Ads API (offline user data jobs) ----------------------------------------------------
def test_google_ads_jobs_concurrent_modification_and_partial_failure(dest_env):
    env = dest_env("google_ads", n=50, options={"customer_id": "9876543210", "batch_size": 20})
    emu = env.emulator
    emu.inject_fault(
        409,
        count=2,
        path="addOperations",
        body={
            "error": {
                "code": 409,
                "status": "ABORTED",
                "message": "Concurrent modification",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.ads.googleads.v24.errors."
                        "GoogleAdsFailure",
                        "errors": [{"errorCode": {"databaseError": "CONCURRENT_MODIFICATION"}}],
                    }
                ],
            }
        },
    )
    res = env.run()
    assert res.status == "success", res.error
    assert res.counts["retries"] == 2
    assert len(emu.jobs) == 3 and all(j["status"] == "SUCCESS" for j in emu.jobs.values())
    assert all(
        j["consent"] == {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
        for j in emu.jobs.values()
    )
    env.assert_destination_equals_model()
    # removal goes through its own job with remove operations
    env.exec("DELETE FROM main_audiences.aud_google_customer_match WHERE user_id = 'u0000002'")
    assert env.run().counts["removed"] == 1
    assert list(emu.jobs.values())[-1]["kind"] == "remove"
    env.assert_destination_equals_model()


def test_google_ads_real_concurrency_is_refused_by_the_emulator(dest_env):
    env = dest_env("google_ads", n=3)
    assert env.run().status == "success"
    import threading

    import requests

    emu = env.emulator
    emu.config.add_ops_latency = 0.3
    cid = "9876543210"
    job = json.loads(
        requests.post(
            f"{emu.url}/v24/customers/{cid}/offlineUserDataJobs:create",
            headers=_ads_headers(),
            json={
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": {"userList": next(iter(emu.user_lists))},
                }
            },
            timeout=5,
        ).text
    )["resourceName"]
    codes = []

    def add():
        r = requests.post(
            f"{emu.url}/v24/{job}:addOperations",
            headers=_ads_headers(),
            json={"operations": [{"create": {"userIdentifiers": [{"hashedEmail": "a" * 64}]}}]},
            timeout=5,
        )
        codes.append(r.status_code)

    threads = [threading.Thread(target=add) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]


def _ads_headers() -> dict[str, str]:
    from dest_support import SECRETS

    return {
        "Authorization": f"Bearer {SECRETS['GOOGLE_ACCESS_TOKEN']}",
        "developer-token": SECRETS["GOOGLE_ADS_DEVELOPER_TOKEN"],
    }


def test_google_ads_not_allowlisted_is_a_clear_failure(dest_env):
    env = dest_env("google_ads", n=5)
    env.emulator.config.allowlisted = False
    res = env.run()
    assert res.status == "failed" and "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE" in res.error


def test_sync_config_options_are_validated():
    from reverse_etl.core.errors import ConfigError

    t = targets()["meta"]
    with pytest.raises(ConfigError, match="ad_account_id"):
        build(make_sync(t, options={}))
    with pytest.raises(ConfigError, match="not Meta schema keys"):
        build(make_sync(t, mapping={"MAIL": "email"}))
    assert Path(__file__).exists()


def test_meta_full_resync_replaces_members_and_state_at_the_last_batch(dest_env):
    from dest_support import META_MAPPING, ads_rows, insert

    opts = {"ad_account_id": "act_1001", "batch_size": 10, "upload": "replace"}
    # without EXTERN_ID, a member whose only identifier is a malformed email is unusable
    mapping = {k: v for k, v in META_MAPPING.items() if k != "EXTERN_ID"}
    env = dest_env("meta", n=30, options=opts, mapping=mapping)
    assert env.run().status == "success"  # an ordinary run: adds through /users
    env.exec(f"DELETE FROM {T} WHERE user_id < 'u0000005'")
    insert(env.db, "aud_meta_custom_audience", ads_rows(3, start=100))
    env.exec(
        f"UPDATE {T} SET email = 'x@@y', phone = NULL, first_name = NULL, last_name = NULL, "
        "city = NULL, region = NULL, postal_code = NULL, birth_date = NULL, gender = NULL "
        "WHERE user_id = 'u0000101'"
    )
    res = env.run(full_resync=True)
    assert res.status == "partial", res.error
    assert {k: res.counts[k] for k in ("added", "removed", "rejected")} == {
        "added": 27,
        "removed": 5,
        "rejected": 1,
    }
    assert res.rejections == [("u0000101", res.rejections[0][1])]
    aud = env.emulator.audience_by_name("Audiences | high_value")
    replace = [s for s in aud["sessions"].values() if s["batches"] == [1, 2, 3]]
    assert len(replace) == 1 and replace[0]["stage"] == "finished"
    expected = {targets()["meta"].marker(r) for r in env.model_rows() if r["email"] != "x@@y"}
    assert env.emulator.member_values("Audiences | high_value", "EMAIL") == expected
    keys = {k for (k,) in env.sql("SELECT key FROM reverse_etl.sync_state")}
    assert keys == {r["user_id"] for r in env.model_rows()} - {"u0000101"}
    assert env.sql("SELECT key FROM reverse_etl.rejections") == [("u0000101",)]
    assert env.sql("SELECT count(*) FROM reverse_etl.replace_staging") == [(0,)]
    assert env.sql(
        "SELECT mode, status, added, removed FROM reverse_etl.runs ORDER BY started_at DESC LIMIT 1"
    ) == [("replace", "partial", 27, 5)]
    res = env.run()  # an incremental run afterwards only retries the rejected row
    assert res.counts["unchanged"] == 27 and res.counts["rejected"] == 1


def test_meta_replace_requires_mirror_mode():
    from reverse_etl.core.errors import ConfigError

    t = targets()["meta"]
    opts = {"ad_account_id": "act_1001", "upload": "replace"}
    with pytest.raises(ConfigError, match=r"options\.upload.*mode: mirror"):
        build(make_sync(t, mode="upsert", options=opts))
    assert build(make_sync(t, options=opts)).replaces_on_full_resync()
    assert not build(make_sync(t, options={"ad_account_id": "act_1001"})).replaces_on_full_resync()


def test_meta_session_id_is_the_same_for_the_same_rows_in_any_order():
    """The upload session id depends on the set of rows only (a retry, and the read-back
    after a crash, find the same session), whether the row digests come from the encoding
    (worker processes) or are computed where the id is needed."""
    from reverse_etl.destinations.meta import MetaDestination

    rows = [["a" * 64, ""], ["b" * 64, "c" * 64], ["", "d" * 64]]
    sid = MetaDestination.session_id(rows, "add")
    assert MetaDestination.session_id(rows[::-1], "add") == sid
    digests = [MetaDestination.row_digest(r) for r in rows]
    assert MetaDestination.session_id(rows, "add", digests) == sid
    assert MetaDestination.session_id(rows, "remove") != sid
    assert MetaDestination.session_id(rows[:2], "add") != sid
    assert 0 < sid < 2**56


def test_meta_encoding_packs_a_row_into_one_string_unless_a_cell_has_a_comma(monkeypatch):
    """What an encode worker sends back per member: the hashed cells joined by commas (one
    object to pickle), or the cells themselves when one of them (a clear EXTERN_ID) holds a
    comma, so splitting never changes what is uploaded."""
    from reverse_etl.identifiers import sha256_hex

    t = targets()["meta"]
    dest = build(make_sync(t, mapping={"EMAIL": "email", "EXTERN_ID": "user_id"}))
    plain, comma = dest.encode(
        [{"EMAIL": " A@Example.com ", "EXTERN_ID": "u1"}, {"EMAIL": "", "EXTERN_ID": "u,2"}]
    )
    assert plain[0] == sha256_hex("a@example.com") + ",u1"
    assert plain[1:3] == (None, ())
    assert comma[0] == ["", "u,2"]
    assert plain[3] == dest.row_digest([sha256_hex("a@example.com"), "u1"])
