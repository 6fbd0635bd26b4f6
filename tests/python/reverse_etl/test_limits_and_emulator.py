"""Rate limiter, back-off, and the HubSpot emulator's contract (destination-apis.md)."""

from __future__ import annotations

import random

import pytest
import requests
from retl_support import TOKEN

from audiences_emulators.hubspot import HubSpotEmulator
from reverse_etl.core.errors import TransientError
from reverse_etl.http.ratelimit import RollingWindowLimiter
from reverse_etl.http.transport import RetryPolicy, backoff_wait


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_rolling_window_limiter_is_exact():
    clock = FakeClock()
    lim = RollingWindowLimiter(5, 10.0, margin=0.0, clock=clock, sleep=clock.sleep)
    for _ in range(5):
        assert lim.acquire() == 0.0
    assert lim.acquire() == pytest.approx(10.0)  # the 6th waits for the 1st to leave the window
    clock.t = 10.5
    assert lim.acquire() == 0.0  # the 2nd sent at t=0 also left
    # 100 sends at the ceiling take 19 full windows: throughput == the published rate
    clock2 = FakeClock()
    lim2 = RollingWindowLimiter(100, 10.0, clock=clock2, sleep=clock2.sleep)
    for _ in range(2000):
        lim2.acquire()
    assert 2000 / (clock2.t + 10.0) == pytest.approx(10.0, rel=0.02)


def test_backoff_honours_retry_after_and_grows_with_jitter():
    wait = backoff_wait(RetryPolicy(base_seconds=1.0, max_wait_seconds=8.0), random.Random(1))

    class State:
        def __init__(self, n, exc):
            self.attempt_number = n
            self.outcome = type("O", (), {"exception": lambda self_: exc})()

    assert 3.0 <= wait(State(1, TransientError("x", retry_after=3.0))) <= 3.35
    delays = [wait(State(n, TransientError("x"))) for n in range(1, 7)]
    assert all(0 <= d <= min(8.0, 2 ** (n - 1)) for n, d in zip(range(1, 7), delays, strict=True))
    assert len(set(delays)) == 6  # jittered


@pytest.fixture
def emu():
    e = HubSpotEmulator()
    e.config.tokens = {TOKEN}
    e.config.burst = 5
    e.config.window_seconds = 60
    e.config.daily = 8
    e.start()
    yield e
    e.stop()


def _h(token=TOKEN):
    return {"Authorization": f"Bearer {token}"}


def test_emulator_contract(emu):
    u = emu.url
    r = requests.post(
        u + "/crm/v3/objects/contacts/batch/upsert", json={"inputs": []}, headers=_h("nope")
    )
    assert r.status_code == 401 and r.json()["category"] == "INVALID_AUTHENTICATION"
    too_many = [{"idProperty": "email", "id": f"a{i}@x.io", "properties": {}} for i in range(101)]
    r = requests.post(
        u + "/crm/v3/objects/contacts/batch/upsert", json={"inputs": too_many}, headers=_h()
    )
    assert r.status_code == 400 and r.json()["category"] == "VALIDATION_ERROR"
    assert (
        r.headers["X-HubSpot-RateLimit-Max"] == "5"
        and r.headers["X-HubSpot-RateLimit-Remaining"] == "4"
    )
    assert r.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "60000"
    inputs = [
        {
            "idProperty": "email",
            "id": "Jane@Example.com",
            "objectWriteTraceId": "0",
            "properties": {"firstname": "Jane"},
        },
        {"idProperty": "email", "id": "bad@@x", "objectWriteTraceId": "1", "properties": {}},
    ]
    r = requests.post(
        u + "/crm/objects/2026-03/contacts/batch/upsert", json={"inputs": inputs}, headers=_h()
    )
    body = r.json()
    assert r.status_code == 207 and body["numErrors"] == 1
    assert body["errors"][0]["context"]["objectWriteTraceId"] == ["1"]
    assert body["errors"][0]["errors"][0]["code"] == "INVALID_EMAIL"
    assert (
        body["results"][0]["new"] is True
        and body["results"][0]["properties"]["email"] == "jane@example.com"
    )
    cid = body["results"][0]["id"]
    r = requests.post(
        u + "/crm/v3/lists",
        json={"name": "L", "objectTypeId": "0-1", "processingType": "MANUAL"},
        headers=_h(),
    )
    lid = r.json()["list"]["listId"]
    r = requests.put(
        u + f"/crm/lists/2026-03/{lid}/memberships/add", json=[cid, "999999"], headers=_h()
    )
    assert r.json() == {
        "recordsIdsAdded": [cid],
        "recordIdsRemoved": [],
        "recordIdsMissing": ["999999"],
    }
    r = requests.get(u + f"/crm/v3/lists/{lid}/memberships", headers=_h())
    assert r.json()["results"][0]["recordId"] == cid and r.json()["total"] == 1
    # 5 calls used in the 60 s window (the 401 does not count): the 6th is throttled
    r = requests.get(u + f"/crm/v3/lists/{lid}/memberships", headers=_h())
    assert r.status_code == 429
    assert (
        r.json()["policyName"] == "TEN_SECONDLY_ROLLING" and r.json()["errorType"] == "RATE_LIMIT"
    )
    assert "Retry-After" not in r.headers and r.headers["X-HubSpot-RateLimit-Remaining"] == "0"
    emu.config.burst = None
    codes = [
        requests.get(u + "/account-info/v3/api-usage/daily/private-apps", headers=_h()).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]  # daily cap of 8
    r = requests.get(u + "/account-info/v3/api-usage/daily/private-apps", headers=_h())
    assert (
        r.json()["policyName"] == "DAILY"
        and r.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
    )


def test_emulator_lists_create_conflict_dynamic_and_faults(emu):
    emu.config.burst = None
    emu.config.daily = None
    u = emu.url
    r = requests.post(
        u + "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": "a@b.co"}}]},
        headers=_h(),
    )
    assert r.status_code == 201
    r = requests.post(
        u + "/crm/v3/objects/contacts/batch/create",
        json={"inputs": [{"properties": {"email": "A@b.co"}}]},
        headers=_h(),
    )
    assert r.status_code == 409 and r.json()["message"].startswith(
        "Contact already exists. Existing ID: "
    )
    r = requests.post(
        u + "/crm/v3/lists",
        json={"name": "D", "objectTypeId": "0-1", "processingType": "DYNAMIC"},
        headers=_h(),
    )
    lid = r.json()["list"]["listId"]
    assert (
        requests.put(
            u + f"/crm/v3/lists/{lid}/memberships/add", json=["1001"], headers=_h()
        ).status_code
        == 400
    )
    assert (
        requests.get(u + "/crm/v3/lists/object-type-id/0-1/name/D", headers=_h()).json()["list"][
            "listId"
        ]
        == lid
    )
    assert (
        requests.get(u + "/crm/v3/lists/object-type-id/0-1/name/Nope", headers=_h()).status_code
        == 404
    )
    requests.post(u + "/__emulator/faults", json={"status": 503, "count": 2, "path": "lists"})
    codes = [requests.get(u + f"/crm/v3/lists/{lid}", headers=_h()).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    stats = requests.get(u + "/__emulator/stats").json()
    assert stats["faults"] == 2 and stats["contacts"] == 1
    emu.inject_fault(timeout=0.5, count=1)
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(u + f"/crm/v3/lists/{lid}", headers=_h(), timeout=0.2)
