"""POST /v1/events over real HTTP against a real Redis: whole batches or nothing, idempotent
on event_id, every rejection naming the event index and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from realtime_http import SERVER_KEY

from audiences.realtime.stream import RedisEventStream

AUTH = {"Authorization": f"Bearer {SERVER_KEY}"}


def event(i: int, **fields) -> dict:
    return {
        "event_id": f"ev-{i}",
        "anonymous_id": "anon-1",
        "event_type": "page_view",
        "page_type": "product",
        "product_id": "p-7",
        "occurred_at": "2026-11-24T10:00:00",
        **fields,
    }


def post(api: str, body, **kwargs) -> requests.Response:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return requests.post(f"{api}/v1/events", data=data, headers=AUTH, timeout=10, **kwargs)


def on_stream(redis_client, keys) -> list[dict]:
    stream = RedisEventStream(redis_client, keys)
    stream.ensure_group("test-reader")
    return [entry.event for entry in stream.read("test-reader", "t", count=1000)]


def nothing_written(redis_client, keys) -> bool:
    return (
        redis_client.xlen(keys.events) == 0
        and list(redis_client.scan_iter(match=keys.seen("*"), count=1000)) == []
    )


def test_a_batch_lands_on_the_stream_normalised_as_staging_does(api, redis_client, keys):
    response = post(
        api,
        {
            "events": [
                event(1, user_id="  ", session_id=" s-1 ", occurred_at="2026-11-24T11:15:00+01:00"),
                event(2, event_type="ADD_TO_CART", page_type="Product", user_id=" u-9 ",
                      product_category="Tents", engaged_seconds=12, utm_source="",
                      occurred_at="2026-11-24T10:16:30.250Z"),
            ]
        },
    )  # fmt: skip
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 2, "duplicates": 0}
    got = on_stream(redis_client, keys)
    assert [e["event_id"] for e in got] == ["ev-1", "ev-2"]
    first, second = got
    assert first["occurred_at"] == "2026-11-24T10:15:00"  # +01:00 converted to UTC
    assert first["user_id"] is None and first["session_id"] == "s-1"
    assert second["occurred_at"] == "2026-11-24T10:16:30.250000"
    assert second["event_type"] == "add_to_cart" and second["page_type"] == "product"
    assert second["user_id"] == "u-9" and second["product_category"] == "tents"
    assert second["engaged_seconds"] == 12 and second["utm_source"] is None
    # every column of the raw contract is present (absent ones null), loaded_at excluded
    assert sorted(first) == sorted(
        ["event_id", "anonymous_id", "user_id", "session_id", "event_type", "page_type",
         "page_url", "product_id", "product_category", "engaged_seconds", "device_type",
         "browser", "os", "country", "region", "city", "referrer", "utm_source", "utm_medium",
         "utm_campaign", "occurred_at"]
    )  # fmt: skip


def test_resending_is_idempotent_on_event_id(api, redis_client, keys):
    assert post(api, {"events": [event(1), event(2)]}).json() == {"accepted": 2, "duplicates": 0}
    again = post(api, {"events": [event(2), event(3), event(3), event(1)]})
    assert again.status_code == 202
    assert again.json() == {"accepted": 1, "duplicates": 3}
    assert [e["event_id"] for e in on_stream(redis_client, keys)] == ["ev-1", "ev-2", "ev-3"]


def test_an_empty_batch_is_accepted_and_writes_nothing(api, redis_client, keys):
    response = post(api, {"events": []})
    assert response.status_code == 202
    assert response.json() == {"accepted": 0, "duplicates": 0}
    assert nothing_written(redis_client, keys)


FUTURE = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0).isoformat()


@pytest.mark.parametrize(
    ("bad", "field", "message_part"),
    [
        ({"engaged_seconds": "12"}, "engaged_seconds", "must be an integer"),
        ({"engaged_seconds": True}, "engaged_seconds", "must be an integer"),
        ({"engaged_seconds": -1}, "engaged_seconds", "greater than or equal to 0"),
        ({"event_type": "click"}, "event_type", "unknown event type"),
        ({"page_type": "landing"}, "page_type", "unknown page type"),
        ({"anonymous_id": 42}, "anonymous_id", "must be a string"),
        ({"anonymous_id": "   "}, "anonymous_id", "must not be blank"),
        ({"event_id": None}, "event_id", "must be a string"),
        ({"coupon": "X1"}, "coupon", "is not a field of a tracker event"),
        ({"occurred_at": "yesterday"}, "occurred_at", "ISO 8601"),
        ({"occurred_at": "2026-11-24"}, "occurred_at", "ISO 8601"),
        ({"occurred_at": FUTURE}, "occurred_at", "in the future"),
        ({"occurred_at": 1764000000}, "occurred_at", "must be a string"),
    ],
)
def test_an_invalid_event_rejects_the_whole_batch_naming_index_and_field(
    api, redis_client, keys, bad, field, message_part
):
    response = post(api, {"events": [event(0), event(1), event(2, **bad)]})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "invalid_event"
    assert (body["index"], body["field"]) == (2, field)
    assert message_part in body["message"]
    assert "event 2" in body["message"] and "nothing in this batch was accepted" in body["message"]
    assert nothing_written(redis_client, keys)  # events 0 and 1 were valid: not written either


def test_a_missing_required_field_is_named(api, redis_client, keys):
    incomplete = event(1)
    del incomplete["occurred_at"]
    body = post(api, {"events": [incomplete]}).json()
    assert (body["index"], body["field"]) == (0, "occurred_at")
    assert "is required" in body["message"]
    assert nothing_written(redis_client, keys)


def test_every_problem_is_listed(api):
    body = post(api, {"events": [event(0, event_type="x"), "not an object", event(2)]}).json()
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "event_type"), (1, "event")]


@pytest.mark.parametrize(
    ("raw", "error", "field"),
    [
        (b'{"events": [{"event_id": "e1",', "malformed_json", "body"),
        (b"\xff\xfe not utf-8", "malformed_json", "body"),
        (b"[]", "invalid_body", "body"),
        (b"{}", "invalid_body", "events"),
        (b'{"events": {"event_id": "e1"}}', "invalid_body", "events"),
        (b'{"events": [], "extra": 1}', "invalid_body", "extra"),
        (b"[" * 200_000, "malformed_json", "body"),  # deeper than the parser's stack
    ],
)
def test_a_malformed_body_is_a_400(api, redis_client, keys, raw, error, field):
    response = post(api, raw)
    assert response.status_code == 400, response.text
    assert (response.json()["error"], response.json()["field"]) == (error, field)
    assert nothing_written(redis_client, keys)


def test_a_body_over_the_limit_is_a_413_by_content_length_and_by_actual_size(
    make_api, redis_client, keys
):
    api = make_api(max_body_bytes=2000)
    small = {"events": [event(1)]}
    assert post(api, small).status_code == 202
    big = {"events": [event(i, page_url="/p/" + "x" * 100) for i in range(20)]}
    response = post(api, big)
    assert response.status_code == 413
    assert response.json()["error"] == "body_too_large"
    assert "2000 bytes" in response.json()["message"]

    # no Content-Length (chunked upload): the server counts what it reads
    def chunks():
        payload = json.dumps(big).encode()
        for start in range(0, len(payload), 500):
            yield payload[start : start + 500]

    response = requests.post(f"{api}/v1/events", data=chunks(), headers=AUTH, timeout=10)
    assert response.status_code == 413
    assert redis_client.xlen(keys.events) == 1  # only the small batch


def test_too_many_events_is_a_413_and_writes_nothing(make_api, redis_client, keys):
    api = make_api(max_events_per_batch=3)
    assert post(api, {"events": [event(i) for i in range(3)]}).status_code == 202
    response = post(api, {"events": [event(i) for i in range(10, 14)]})
    assert response.status_code == 413
    assert (response.json()["error"], response.json()["field"]) == ("too_many_events", "events")
    assert "at most 3" in response.json()["message"]
    assert redis_client.xlen(keys.events) == 3


def test_future_limit_is_measured_on_the_server_clock(make_api, redis_client, keys):
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    api = make_api(clock=lambda: now, max_future_seconds=60)
    at_limit = post(api, {"events": [event(1, occurred_at="2026-11-24T13:01:00+01:00")]})
    assert at_limit.status_code == 202  # 12:01:00 UTC: exactly 60 s ahead
    over = post(api, {"events": [event(2, occurred_at="2026-11-24T12:01:01")]})
    assert over.status_code == 400
    assert over.json()["field"] == "occurred_at"
    assert "61 s in the future" in over.json()["message"]
