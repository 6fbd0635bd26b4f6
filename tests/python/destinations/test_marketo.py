"""Marketo over real HTTP: the emulator's contract (identity, Sync Leads, lists, limits) and
what only Marketo does on the destination side (token renewal before expiry and on 601 / 602,
errors inside HTTP 200 answers, the static list created if missing, mirror removal from our
list only, batches of up to 300). The shared fault scenarios run for Marketo in
test_faults_all_destinations.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import pytest
import requests
from dest_support import MARKETO_FIELDS, MARKETO_LIST, SCHEMA, SECRETS

from audiences_emulators.marketo import MarketoConfig, MarketoEmulator, failure
from reverse_etl.core import ConfigError, Outcome, Record, SyncConfig
from reverse_etl.destinations.marketo import MarketoDestination
from reverse_etl.http import HttpTransport, NoLimiter, RetryPolicy

CLIENT_ID, SECRET = SECRETS["MARKETO_CLIENT_ID"], SECRETS["MARKETO_CLIENT_SECRET"]


@pytest.fixture
def mkto():
    emu = MarketoEmulator(
        config=MarketoConfig(client_id=CLIENT_ID, tokens={SECRET}, custom_fields=MARKETO_FIELDS)
    ).start()
    yield emu
    emu.stop()


def _token(emu: MarketoEmulator, secret: str = SECRET) -> requests.Response:
    return requests.get(
        emu.url + "/identity/oauth/token",
        params={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": secret,
        },
    )


def _auth(emu: MarketoEmulator) -> dict[str, str]:
    return {"Authorization": "Bearer " + _token(emu).json()["access_token"]}


def _codes(emu: MarketoEmulator) -> list[str | None]:
    with emu.lock:
        return [c.code for c in emu.calls]


# --- the emulator's contract ---------------------------------------------------------------
def test_identity_tokens(mkto):
    assert _token(mkto, "wrong").status_code == 401
    assert _token(mkto, "wrong").json()["error"] == "invalid_client"
    first = _token(mkto).json()
    assert first["token_type"] == "bearer" and first["expires_in"] == 3599
    time.sleep(1.05)
    again = _token(mkto).json()  # asked early: the same token, with what is left of its life
    assert again["access_token"] == first["access_token"]
    assert 3590 <= again["expires_in"] <= 3598
    url = mkto.url + "/rest/v1/lists.json"
    assert requests.get(url).json()["errors"][0]["code"] == "600"
    bad = requests.get(url, headers={"Authorization": "Bearer nope"}).json()
    assert bad == {"requestId": bad["requestId"], "success": False, "errors": bad["errors"]}
    assert bad["errors"] == [{"code": "601", "message": "Access token invalid"}]
    ok = requests.get(url, params={"access_token": first["access_token"]}).json()
    assert ok["success"] is True and mkto.query_token_uses == 1  # (the withdrawn parameter)
    mkto.expire_tokens()
    old = requests.get(url, headers={"Authorization": "Bearer " + first["access_token"]}).json()
    assert old["errors"][0]["code"] == "602"
    assert _token(mkto).json()["access_token"] != first["access_token"]
    assert mkto.token_requests == 5 and mkto.daily_calls == 1  # identity is never counted


def test_sync_leads_per_record_results_in_input_order(mkto):
    h = _auth(mkto)
    url = mkto.url + "/rest/v1/leads.json"
    body = requests.post(
        url,
        headers=h,
        json={
            "action": "createOrUpdate",
            "lookupField": "email",
            "input": [
                {"email": "a@x.com", "audiencesOrdersCount": "3"},
                {"email": "bad@@x"},
                {"email": "A@X.com", "firstName": "Ana"},  # the same lead (case-insensitive)
                {"email": "c@x.com", "nope": "1"},
                {"email": "d@x.com", "audiencesOrdersCount": "three"},
                {"email": "e@x.com", "id": 5},
                {"firstName": "no key"},
            ],
        },
    ).json()
    assert body["success"] is True
    assert body["result"] == [
        {"id": 1001, "status": "created"},
        {
            "status": "skipped",
            "reasons": [
                {"code": "1001", "message": "Invalid value 'bad@@x'. Required of type 'email'"}
            ],
        },
        {"id": 1001, "status": "updated"},
        {"status": "skipped", "reasons": [{"code": "1006", "message": "Field 'nope' not found"}]},
        {
            "status": "skipped",
            "reasons": [
                {"code": "1001", "message": "Invalid value 'three'. Required of type 'integer'"}
            ],
        },
        {"status": "skipped", "reasons": [{"code": "1003", "message": "Invalid data"}]},
        {
            "status": "skipped",
            "reasons": [{"code": "1003", "message": "Value for 'email' required"}],
        },
    ]
    lead = mkto.lead_by_email("a@x.com")
    assert lead["firstName"] == "Ana" and lead["audiencesOrdersCount"] == "3"
    only = requests.post(
        url, headers=h, json={"action": "createOnly", "input": [{"email": "a@x.com"}]}
    ).json()
    assert only["result"][0]["reasons"][0]["code"] == "1005"
    upd = requests.post(
        url, headers=h, json={"action": "updateOnly", "input": [{"email": "z@x.com"}]}
    ).json()
    assert upd["result"][0]["reasons"][0]["code"] == "1004"
    # response-level errors: HTTP 200, success false, nothing applied
    too_many = requests.post(
        url, headers=h, json={"input": [{"email": f"p{i}@x.com"} for i in range(301)]}
    )
    assert too_many.status_code == 200 and too_many.json()["errors"][0]["code"] == "1003"
    assert mkto.lead_by_email("p0@x.com") is None
    assert requests.post(url, headers=h, json={"input": []}).json()["errors"][0]["code"] == "701"
    form = requests.post(url, headers=h, data={"input": "x"}).json()
    assert form["errors"][0]["code"] == "612"
    found = requests.get(
        url,
        headers=h,
        params={"filterType": "email", "filterValues": "a@x.com,none@x.com", "fields": "email"},
    ).json()
    assert found["result"] == [{"id": 1001, "email": "A@X.com"}]  # (as last written)


def test_static_lists_and_membership(mkto):
    h = _auth(mkto)
    assets = mkto.url + "/rest/asset/v1"
    none = requests.get(assets + "/staticList/byName.json", headers=h, params={"name": "L"})
    assert none.json()["warnings"] == ["No assets found for the given search criteria."]
    folder = '{"id": 12, "type": "Folder"}'
    made = requests.post(
        assets + "/staticLists.json", headers=h, data={"name": "L", "folder": folder}
    )
    lid = made.json()["result"][0]["id"]
    dup = requests.post(
        assets + "/staticLists.json", headers=h, data={"name": "L", "folder": folder}
    )
    assert dup.json()["errors"][0]["code"] == "709"
    lists = requests.get(mkto.url + "/rest/v1/lists.json", headers=h, params={"name": "L"}).json()
    assert [x["id"] for x in lists["result"]] == [lid]
    requests.post(
        mkto.url + "/rest/v1/leads.json", headers=h, json={"input": [{"email": "a@x.com"}]}
    )
    members = f"{mkto.url}/rest/v1/lists/{lid}/leads.json"
    add = requests.post(members, headers=h, json={"input": [{"id": 1001}, {"id": 7}]}).json()
    assert add["result"] == [
        {"id": 1001, "status": "added"},
        {"id": 7, "status": "skipped", "reasons": [{"code": "1004", "message": "Lead not found"}]},
    ]
    ismember = requests.get(
        f"{mkto.url}/rest/v1/lists/{lid}/leads/ismember.json", headers=h, params={"id": [1001]}
    )
    assert ismember.json()["result"] == [{"id": 1001, "status": "memberof"}]
    rm = requests.delete(members, headers=h, params={"id": [1001, 1001]}).json()
    assert [r["status"] for r in rm["result"]] == ["removed", "skipped"]
    assert rm["result"][1]["reasons"][0]["code"] == "1015"
    gone = requests.post(f"{mkto.url}/rest/v1/lists/999/leads.json", headers=h, json={"input": []})
    assert gone.json()["errors"][0]["code"] == "1013"


def test_limits_answer_606_615_607_in_http_200(mkto):
    h = _auth(mkto)
    url = mkto.url + "/rest/v1/lists.json"
    mkto.config.calls_per_window, mkto.config.window_seconds = 2, 0.5
    answers = [requests.get(url, headers=h) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[2].json()["errors"][0]["code"] == "606"
    time.sleep(0.55)
    assert requests.get(url, headers=h).json()["success"] is True
    mkto.config.calls_per_window = None
    mkto.config.concurrent, mkto.config.latency = 1, 1.0
    out: list[dict] = []
    threads = [
        threading.Thread(target=lambda: out.append(requests.get(url, headers=h).json()))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
        time.sleep(0.3)  # the first call is in flight (it takes 1 s) when the second arrives
    for t in threads:
        t.join()
    assert sorted(str(o.get("errors", [{}])[0].get("code")) for o in out) == ["615", "None"]
    mkto.config.concurrent, mkto.config.latency = None, 0.0
    mkto.config.daily = mkto.daily_calls
    assert requests.get(url, headers=h).json()["errors"][0]["code"] == "607"
    assert mkto.throttled == 2 and mkto.quota_refusals == 1


def test_gateway_faults_are_html(mkto):
    h = _auth(mkto)
    mkto.inject_fault(502)
    r = requests.get(mkto.url + "/rest/v1/lists.json", headers=h)
    assert r.status_code == 502 and r.headers["Content-Type"] == "text/html"


# --- the destination ---------------------------------------------------------------------------
def _destination(emu: MarketoEmulator, monkeypatch, **overrides) -> MarketoDestination:
    monkeypatch.setenv("MARKETO_BASE_URL", emu.url)
    raw = {
        "name": "marketo_leads",
        "model": "aud_marketo_leads",
        "destination": "marketo",
        "mode": "mirror",
        "identity": "email",
        "mapping": {"email": "email", "firstName": "first_name"},
        "list": MARKETO_LIST,
        "options": {"list_folder_id": 12},
    }
    raw.update(overrides)
    return MarketoDestination.from_sync(SyncConfig.model_validate(raw))


def _transport(dest: MarketoDestination) -> HttpTransport:
    base, headers = dest.http_config()
    policy = RetryPolicy(max_attempts=4, base_seconds=0.01, max_wait_seconds=0.05)
    return HttpTransport(base, headers, dest.check_response, NoLimiter(), policy)


def _rec(i: int, name: str = "Ana", action: str = "add", dest_id: str | None = None) -> Record:
    return Record(f"p{i}@x.com", action, "fp", {"email": f"p{i}@x.com", "firstName": name}, dest_id)


def test_token_renewed_on_602_and_601_and_sent_as_a_header(mkto, monkeypatch):
    dest = _destination(mkto, monkeypatch)
    t = _transport(dest)
    dest.prepare(t)
    assert [r.outcome for r in dest.send_upserts(t, [_rec(1)])] == [Outcome.ACKED]
    mkto.expire_tokens()
    assert [r.outcome for r in dest.send_upserts(t, [_rec(2)])] == [Outcome.ACKED]
    mkto.forget_tokens()
    assert [r.outcome for r in dest.send_upserts(t, [_rec(3)])] == [Outcome.ACKED]
    codes = _codes(mkto)
    assert codes.count("602") == 1 and codes.count("601") == 1
    assert mkto.token_requests == 3 and mkto.query_token_uses == 0
    assert {m["email"] for m in mkto.list_members(MARKETO_LIST)} == {
        "p1@x.com",
        "p2@x.com",
        "p3@x.com",
    }
    assert t.retries == 0  # a renewed token is not a retry of a failed call


def test_token_renewed_before_it_expires(monkeypatch):
    emu = MarketoEmulator(
        config=MarketoConfig(client_id=CLIENT_ID, tokens={SECRET}, token_seconds=2.0)
    ).start()
    try:
        dest = _destination(emu, monkeypatch)
        t = _transport(dest)
        dest.prepare(t)
        time.sleep(2.1)  # the first token is gone; the destination knows it without asking
        assert [r.outcome for r in dest.send_upserts(t, [_rec(1)])] == [Outcome.ACKED]
        assert "602" not in _codes(emu) and emu.token_requests == 2
    finally:
        emu.stop()


def test_errors_inside_http_200_answers(dest_env):
    env = dest_env("marketo", n=40)
    emu, path = env.emulator, env.target.write_path
    emu.inject_fault(200, count=1, path=path, body=failure("611", "System error"))
    emu.inject_fault(200, count=1, path=path, body=failure("604", "Request timed out"))
    res = env.run()
    assert res.status == "success" and res.counts["retries"] == 2
    env.assert_destination_equals_model()
    env.exec(f"UPDATE {SCHEMA}.{env.target.table} SET first_name = 'Zed'")
    emu.inject_fault(200, count=1, path=path, body=failure("603", "Access denied"))
    res = env.run()
    assert res.status == "failed" and "603 Access denied" in res.error
    assert "Read-Write Lead" in res.error and res.counts["retries"] == 0


def test_list_created_in_folder_once_and_mirror_removes_from_our_list_only(dest_env):
    env = dest_env("marketo", n=30)
    emu = env.emulator
    assert env.run().status == "success"
    ours = emu.list_named(MARKETO_LIST)
    assert ours["folder"] == {"id": 12, "type": "Folder"} and len(ours["members"]) == 30
    # a list of someone else's holding the same leads, and a second run: the list is reused
    with emu.lock:
        emu.lists[1] = {**ours, "id": 1, "name": "Other", "members": set(ours["members"])}
    env.exec(f"DELETE FROM {SCHEMA}.{env.target.table} WHERE user_id < 'u0000003'")
    res = env.run()
    assert res.status == "success" and res.counts["removed"] == 3
    assert [c.path for c in emu.calls].count("/rest/asset/v1/staticLists.json") == 1
    removed = {f"person{i:07d}@example.com" for i in range(3)}
    assert len(emu.list_named(MARKETO_LIST)["members"]) == 27
    assert len(emu.lists[1]["members"]) == 30  # not our list: untouched
    assert all(emu.lead_by_email(e) is not None for e in removed)  # leads are never deleted
    env.assert_destination_equals_model()


def test_missing_list_without_a_folder_is_a_clear_error(dest_env):
    env = dest_env("marketo", n=5, options={})
    res = env.run()
    assert res.status == "failed" and "options.list_folder_id" in res.error


def test_batches_of_up_to_300(dest_env):
    env = dest_env("marketo", n=650)
    assert env.run().status == "success"
    writes = [c for c in env.emulator.calls if c.path == "/rest/v1/leads.json"]
    assert len(writes) == 3 and len(env.emulator.leads) == 650
    env.assert_destination_equals_model()
    with pytest.raises(ConfigError, match="batch_size"):
        MarketoDestination.from_sync(
            env.sync.model_copy(update={"options": {"list_folder_id": 1, "batch_size": 301}})
        )


def test_the_sandbox_marketo_emulator_takes_the_sync(tmp_path, monkeypatch):
    """The emulator as the sandbox starts it (`python -m`, any field, the sandbox's
    credentials from `sandbox_env`) takes a sync of the Marketo mart."""
    from dest_support import make_env, target

    from reverse_etl import sandbox

    module = sandbox.emulator_module("marketo")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-m", module.__name__, "--port", str(port)]
    proc = subprocess.Popen([*cmd, *sandbox.EXTRA_ARGS["marketo"]], stdout=subprocess.DEVNULL)
    try:
        env_vars = module.sandbox_env(port)
        for k, v in env_vars.items():
            monkeypatch.setenv(k, v)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        remote = type(
            "Remote", (), {"url": env_vars["MARKETO_BASE_URL"], "stop": lambda self: None}
        )
        env = make_env(tmp_path, target("marketo"), n=25, emulator=remote())
        res = env.run()
        assert res.status == "success" and res.counts["added"] == 25
        base = env_vars["MARKETO_BASE_URL"]
        token = requests.get(
            base + "/identity/oauth/token",
            params={
                "grant_type": "client_credentials",
                "client_id": env_vars["MARKETO_CLIENT_ID"],
                "client_secret": env_vars["MARKETO_CLIENT_SECRET"],
            },
        ).json()["access_token"]
        h = {"Authorization": f"Bearer {token}"}
        lists = requests.get(base + "/rest/v1/lists.json", headers=h, params={"name": MARKETO_LIST})
        lid = lists.json()["result"][0]["id"]
        members = requests.get(
            f"{base}/rest/v1/lists/{lid}/leads.json", headers=h, params={"fields": "email"}
        ).json()["result"]
        expected = {str(r["email"]).strip().lower() for r in env.model_rows()}
        assert {m["email"] for m in members} == expected
    finally:
        proc.terminate()
        proc.wait()


def test_a_cached_token_goes_on_every_transport_without_a_refused_call(mkto, monkeypatch):
    dest = _destination(mkto, monkeypatch)
    first, second = _transport(dest), _transport(dest)
    dest.prepare(first)
    assert [r.outcome for r in dest.send_upserts(second, [_rec(1)])] == [Outcome.ACKED]
    assert mkto.token_requests == 1 and set(_codes(mkto)) == {None}
