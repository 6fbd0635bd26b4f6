"""The emulators' contracts (destination-apis.md §2, §3, §4 and §5), over raw HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

from audiences_emulators.braze import SANDBOX_KEY, BrazeConfig, BrazeEmulator
from audiences_emulators.google import (
    SANDBOX_DEVELOPER_TOKEN,
    SANDBOX_TOKEN,
    GoogleConfig,
    GoogleEmulator,
)
from audiences_emulators.meta import SANDBOX_TOKEN as META_TOKEN
from audiences_emulators.meta import MetaConfig, MetaEmulator

H64 = "a" * 64


@pytest.fixture
def braze():
    e = BrazeEmulator(config=BrazeConfig(requests_per_window=3, window_seconds=30)).start()
    yield e
    e.stop()


def test_braze_contract(braze):
    u, h = braze.url + "/users/track", {"Authorization": f"Bearer {SANDBOX_KEY}"}
    assert requests.post(u, json={}, headers={"Authorization": "Bearer x"}).status_code == 401
    r = requests.post(
        u, json={"attributes": [{"external_id": str(i)} for i in range(76)]}, headers=h
    )
    assert r.status_code == 400 and r.json()["message"] == "Max Input Length Exceeded"
    assert r.headers["x-ratelimit-limit"] == "3" and r.headers["x-ratelimit-remaining"] == "2"
    future = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(
        u,
        headers=h,
        json={
            "attributes": [
                {"external_id": "a", "n": 1, "tags": list(range(600))},
                {"first_name": "no id"},
                {"external_id": "b", "s": "x" * 256},
            ],
            "events": [{"external_id": "a", "name": "e", "time": future}],
        },
    )
    body = r.json()
    assert r.status_code == 201 and body["attributes_processed"] == 1
    assert body["events_processed"] == 1
    assert [(e["input_array"], e["index"]) for e in body["errors"]] == [
        ("attributes", 1),
        ("attributes", 2),
    ]
    assert "is required" in body["errors"][0]["type"]
    assert len(braze.users["a"]["tags"]) == 500 and braze.users["a"]["tags"][0] == 100
    assert braze.events[0]["time"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = requests.post(u, headers=h, json={"attributes": [{"external_id": "a", "n": "1"}]})
    assert r.status_code == 201 and braze.users["a"]["n"] == 1  # type locked: ignored
    assert braze.type_conflicts == [("a", "n", "1")]
    r = requests.post(u, headers=h, json={"attributes": [{"email": ""}]})
    assert r.status_code == 429 and int(r.headers["x-ratelimit-reset"]) >= time.time()
    braze.config.requests_per_window = None
    r = requests.post(u, headers=h, json={"attributes": [{"first_name": "x"}]})
    assert r.status_code == 400 and r.json()["message"].startswith("Valid data must be provided")
    # events are never de-duplicated
    ev = {"events": [{"external_id": "a", "name": "e", "time": "2026-01-01T00:00:00Z"}]}
    requests.post(u, headers=h, json=ev)
    requests.post(u, headers=h, json=ev)
    assert len(braze.events_for("a")) == 3


@pytest.fixture
def meta():
    e = MetaEmulator(config=MetaConfig(hourly_base=7, per_audience=0)).start()
    yield e
    e.stop()


def test_meta_contract(meta):
    u = meta.url + "/v25.0"
    r = requests.post(u + "/act_1/customaudiences", data={"access_token": "bad", "name": "x"})
    assert r.status_code == 400 and r.json()["error"]["code"] == 190
    r = requests.post(u + "/act_1/customaudiences", data={"access_token": META_TOKEN, "name": "A"})
    assert (
        r.json()["error"]["code"] == 100 and "customer_file_source" in r.json()["error"]["message"]
    )
    r = requests.post(meta.url + "/v12.0/act_1/customaudiences", data={"access_token": META_TOKEN})
    assert r.json()["error"]["code"] == 2635
    aid = requests.post(
        u + "/act_1/customaudiences",
        json={
            "access_token": META_TOKEN,
            "name": "A",
            "customer_file_source": "USER_PROVIDED_ONLY",
        },
    ).json()["id"]
    payload = {"schema": ["EMAIL", "EXTERN_ID"], "data": [[H64, "u1"], ["NOTAHASH", "u2"], [H64]]}
    r = requests.post(
        u + f"/{aid}/users",
        data={
            "access_token": META_TOKEN,
            "payload": json.dumps(payload),
            "session": json.dumps({"session_id": 9, "batch_seq": 1, "last_batch_flag": False}),
        },
    )
    body = r.json()
    assert body["num_received"] == 3 and body["num_invalid_entries"] == 2
    assert len(body["invalid_entry_samples"]) == 2
    assert "X-Business-Use-Case-Usage" in r.headers
    s = requests.get(u + f"/{aid}/sessions", params={"access_token": META_TOKEN}).json()
    assert s["data"][0]["stage"] == "uploading"
    # DELETE with the parameters in the query string, like the official SDK
    r = requests.delete(
        u + f"/{aid}/users",
        params={
            "access_token": META_TOKEN,
            "payload": json.dumps({"schema": "EMAIL_SHA256", "data": [H64]}),
        },
    )
    assert r.json()["num_received"] == 1
    too_many = {"schema": "EMAIL_SHA256", "data": [H64] * 10_001}
    r = requests.post(u + f"/{aid}/users", json={"access_token": META_TOKEN, "payload": too_many})
    assert r.json()["error"]["code"] == 100
    r = requests.get(u + f"/{aid}", params={"access_token": META_TOKEN})
    assert r.json()["approximate_count_lower_bound"] == -1  # small audiences hide their size
    r = requests.get(u + f"/{aid}", params={"access_token": META_TOKEN})
    err = r.json()["error"]  # 7 calls per "hour" on this account
    assert err["code"] == 80003 and "too many calls" in err["message"]
    usage = json.loads(r.headers["X-Business-Use-Case-Usage"])
    assert usage["1"][0]["call_count"] == 100
    meta.config.hourly_base = None
    meta.config.flagged.add(aid)
    r = requests.post(u + f"/{aid}/users", json={"access_token": META_TOKEN, "payload": payload})
    assert r.json()["error"]["error_subcode"] == 1713230


@pytest.fixture
def google():
    e = GoogleEmulator(
        config=GoogleConfig(dm_per_minute=3, require_consent=True, job_seconds=0)
    ).start()
    yield e
    e.stop()


def _dm(members, **extra):
    return {
        "destinations": [
            {
                "operatingAccount": {"accountType": "GOOGLE_ADS", "accountId": "1"},
                "productDestinationId": "2",
            }
        ],
        "audienceMembers": members,
        **extra,
    }


def test_google_data_manager_contract(google):
    u, h = google.url + "/v1/audienceMembers:ingest", {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    assert requests.post(u, json={}).status_code == 401
    m = {
        "userData": {"userIdentifiers": [{"emailAddress": H64}]},
        "consent": {"adUserData": "CONSENT_GRANTED", "adPersonalization": "CONSENT_GRANTED"},
    }
    r = requests.post(u, headers=h, json=_dm([m]))
    assert (
        r.status_code == 400
        and r.json()["error"]["details"][0]["fieldViolations"][0]["field"] == "encoding"
    )
    r = requests.post(
        u,
        headers=h,
        json=_dm(
            [m, {"userData": {"userIdentifiers": [{"emailAddress": H64}]}}],
            encoding="HEX",
            validateOnly=True,
        ),
    )
    assert (
        r.json()["error"]["details"][0]["fieldViolations"][0]["field"]
        == "audience_members[1].consent"
    )
    r = requests.post(u, headers=h, json=_dm([m], encoding="HEX"))
    assert r.status_code == 200 and r.json()["requestId"]
    assert google.dm_list("1", "2") == {(("emailAddress", H64),)}
    r = requests.post(u, headers=h, json=_dm([m] * 10_001, encoding="HEX"))
    assert r.status_code == 429  # 3 requests per minute
    assert r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    assert r.json()["error"]["details"][0]["retryDelay"].endswith("s")
    google.config.dm_per_minute = None
    r = requests.post(u, headers=h, json=_dm([m] * 10_001, encoding="HEX"))
    assert r.status_code == 400 and "Too many audience members" in r.json()["error"]["message"]


def test_google_ads_job_contract(google):
    base = google.url + "/v24/customers/42"
    h = {"Authorization": f"Bearer {SANDBOX_TOKEN}"}
    assert requests.post(base + "/userLists:mutate", json={}, headers=h).status_code == 401
    h["developer-token"] = SANDBOX_DEVELOPER_TOKEN
    ul = requests.post(
        base + "/userLists:mutate",
        headers=h,
        json={
            "operations": [
                {"create": {"name": "L", "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO"}}}
            ]
        },
    ).json()["results"][0]["resourceName"]

    def job():
        return requests.post(
            base + "/offlineUserDataJobs:create",
            headers=h,
            json={
                "job": {
                    "type": "CUSTOMER_MATCH_USER_LIST",
                    "customerMatchUserListMetadata": {
                        "userList": ul,
                        "consent": {"adUserData": "GRANTED"},
                    },
                }
            },
        ).json()["resourceName"]

    j = job()
    add = google.url + f"/v24/{j}:addOperations"
    ops = [
        {"create": {"userIdentifiers": [{"hashedEmail": H64}]}},
        {"create": {"userIdentifiers": [{"hashedEmail": "nope"}]}},
        {"remove": {"userIdentifiers": [{"hashedEmail": H64}]}},
        {"removeAll": True},
        {"create": {"userIdentifiers": [{"hashedEmail": H64}] * 21}},
    ]
    r = requests.post(add, headers=h, json={"operations": ops})
    assert r.status_code == 400  # without partial failure the whole request fails
    r = requests.post(add, headers=h, json={"operations": ops, "enablePartialFailure": True})
    errs = r.json()["partialFailureError"]["details"][0]["errors"]
    codes = {
        e["location"]["fieldPathElements"][0]["index"]: next(iter(e["errorCode"].values()))
        for e in errs
    }
    assert codes == {
        1: "INVALID_SHA256_FORMAT",
        2: "CONFLICTING_OPERATION",
        3: "INVALID_OPERATION_ORDER",
        4: "TOO_MANY_USER_IDENTIFIERS",
    }
    assert requests.post(google.url + f"/v24/{j}:run", headers=h).json()["done"] is False
    r = requests.post(add, headers=h, json={"operations": ops[:1]})
    assert "JOB_ALREADY_STARTED" in json.dumps(r.json())
    rows = requests.post(
        base + "/googleAds:search",
        headers=h,
        json={
            "query": "SELECT offline_user_data_job.status FROM offline_user_data_job WHERE "
            f"offline_user_data_job.resource_name = '{j}'"
        },
    ).json()["results"]
    assert rows[0]["offlineUserDataJob"]["status"] == "SUCCESS"
    assert google.ads_list("L") == {(("hashedEmail", H64),)}
    big = [{"create": {"userIdentifiers": [{"hashedEmail": H64}] * 20}}] * 5001
    r = requests.post(
        google.url + f"/v24/{job()}:addOperations", headers=h, json={"operations": big}
    )
    assert "TOO_MANY_USER_IDENTIFIERS" in json.dumps(r.json())
    google.config.ads_daily_operations = 0
    r = requests.post(
        google.url + f"/v24/{job()}:addOperations", headers=h, json={"operations": ops[:1]}
    )
    assert r.status_code == 429 and "retryDelay" in json.dumps(r.json())


@pytest.mark.parametrize(
    ("module", "path", "headers"),
    [
        ("braze", "/users/track", {"Authorization": f"Bearer {SANDBOX_KEY}"}),
        ("meta", "/v25.0/act_1/customaudiences?access_token=" + META_TOKEN, {}),
        ("google", "/v1/audienceMembers:ingest", {"Authorization": f"Bearer {SANDBOX_TOKEN}"}),
    ],
)
def test_emulators_run_as_processes_for_the_sandbox(module, path, headers):
    import os
    import socket
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.Popen(
        [sys.executable, "-m", f"audiences_emulators.{module}", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = requests.post(
                    f"http://127.0.0.1:{port}{path}", json={}, headers=headers, timeout=1
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 400  # authenticated, and the empty request refused
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_meta_row_checks_name_each_problem():
    """The Meta emulator checks most rows with one regular expression (its hashed cells
    joined) and falls back to the cell-by-cell rule: both give the same verdicts, including
    on rows the joined check alone would misjudge (a 63- and a 65-character cell)."""
    emu = MetaEmulator()
    schema = ["EMAIL", "PHONE", "EXTERN_ID"]
    b64 = "b" * 64
    rows = [
        [H64, b64, "u,1 anything"],  # valid: EXTERN_ID is sent in clear
        [H64, "", ""],  # valid: one identifier is enough
        ["a" * 63, "b" * 65, "u3"],  # joined, 128 hex characters; each cell wrong
        [H64.upper(), "", ""],  # upper-case hex
        [H64, 12, ""],  # a number where a hash belongs
        ["", "", ""],  # nothing
        [H64, b64],  # too short
        [H64 + "\n", "", ""],  # the documented pattern's `$` takes a final newline
    ]
    good, bad, samples = emu._valid_rows(schema, rows)
    assert good == [
        (("EMAIL", H64), ("PHONE", b64), ("EXTERN_ID", "u,1 anything")),
        (("EMAIL", H64),),
        (("EMAIL", H64 + "\n"),),
    ]
    assert bad == 5
    assert samples == {
        "0": "EMAIL is not a SHA-256 hex hash",
        "1": "EMAIL is not a SHA-256 hex hash",
        "2": "PHONE is not a SHA-256 hex hash",
        "3": "row has no identifier",
        "4": "row has 2 values for 3 schema keys",
    }
