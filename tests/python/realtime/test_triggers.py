"""Real-time triggers (audiences/realtime/triggers.py): segment entries and exits from the
changes stream, delivered once each to a signed webhook and to Braze, over real HTTP on
loopback (the emulators) and real Redis."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta

import pytest
from triggers_support import SECRET, add_change, forwarder, write_syncs

from audiences.realtime.triggers import TriggersAlreadyRunningError
from audiences_emulators.braze import SANDBOX_KEY, BrazeEmulator
from audiences_emulators.webhook import WebhookConfig, WebhookEmulator
from reverse_etl.config import load_project
from reverse_etl.core.errors import ConfigError, CredentialsError
from reverse_etl.event_outbox import event_id


@pytest.fixture
def hook(monkeypatch):
    monkeypatch.setenv("AUDIENCES_WEBHOOK_SECRET", SECRET)
    with WebhookEmulator(config=WebhookConfig(secret=SECRET)) as emu:
        yield emu


@pytest.fixture
def braze(monkeypatch):
    with BrazeEmulator() as emu:
        monkeypatch.setenv("BRAZE_REST_ENDPOINT", emu.url)
        monkeypatch.setenv("BRAZE_API_KEY", SANDBOX_KEY)
        yield emu


def webhook_trigger(hook, **options):
    return {
        "name": "to_crm",
        "destination": "webhook",
        "segments": ["viewed_product_3x_24h", "cart_abandoners"],
        "options": {"url": hook.endpoint, **options},
    }


def test_entries_and_exits_reach_the_webhook_once_each_signed(redis_client, keys, hook, tmp_path):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    add_change(redis_client, keys, "u-1", "viewed_product_3x_24h", "entered")
    add_change(redis_client, keys, "u-2", "cart_abandoners", "entered", "2026-11-24T10:16:00")
    add_change(redis_client, keys, "u-1", "viewed_product_3x_24h", "exited", "2026-11-25T10:15:00")
    add_change(redis_client, keys, "u-3", "high_value", "entered")  # not this trigger's segment
    fw = forwarder(redis_client, keys, syncs)
    stats = fw.run_once(from_start=True)
    assert stats.entries == 4 and stats.failures == []

    bodies = [d.body for d in hook.deliveries]
    assert [(b["person_id"], b["segment_key"], b["change"]) for b in bodies] == [
        ("u-1", "viewed_product_3x_24h", "entered"),
        ("u-2", "cart_abandoners", "entered"),
        ("u-1", "viewed_product_3x_24h", "exited"),
    ]
    first = bodies[0]
    assert first == {
        "id": event_id(
            "to_crm", "u-1", "viewed_product_3x_24h", "entered", datetime(2026, 11, 24, 10, 15)
        ),
        "type": "segment.entered",
        "trigger": "to_crm",
        "segment_key": "viewed_product_3x_24h",
        "change": "entered",
        "person_id": "u-1",
        "user_id": "u-1",
        "occurred_at": "2026-11-24T10:15:00.000000Z",
    }
    # one idempotency key per change, equal to the change's id
    assert [d.idempotency_key for d in hook.deliveries] == [b["id"] for b in bodies]
    assert hook.duplicates() == {} and hook.refused == []
    # the signature, computed here independently of the destination's code
    for d in hook.deliveries:
        parts = dict(item.split("=", 1) for item in d.signature.split(","))
        mac = hmac.new(SECRET.encode(), parts["t"].encode() + b"." + d.raw, hashlib.sha256)
        assert parts["v1"] == mac.hexdigest()
        assert json.loads(d.raw) == d.body

    # a second run finds nothing new: nothing is sent again
    assert forwarder(redis_client, keys, syncs).run_once().entries == 0
    assert len(hook.deliveries) == 3
    counts = fw.counts()["to_crm"]
    assert counts == {"enqueued": 3, "sent": 3, "pending": 0}
    assert redis_client.xpending(keys.changes, "triggers")["pending"] == 0


def test_changes_and_segments_filters_and_anonymous_persons(redis_client, keys, hook, tmp_path):
    trig = webhook_trigger(hook)
    trig["changes"] = ["entered"]
    syncs = write_syncs(tmp_path, [trig])
    add_change(redis_client, keys, "anon-9", "cart_abandoners", "entered", user="")
    add_change(redis_client, keys, "u-5", "cart_abandoners", "exited")
    add_change(redis_client, keys, "u-5", "cart_abandoners", "entered")
    fw = forwarder(redis_client, keys, syncs)
    fw.run_once(from_start=True)
    assert [(d.body["person_id"], d.body["change"]) for d in hook.deliveries] == [
        ("u-5", "entered")
    ]
    assert fw.counts()["to_crm"] == {"enqueued": 1, "sent": 1, "pending": 0, "skipped_anonymous": 1}


def test_include_anonymous_sends_the_person_without_user_id(redis_client, keys, hook, tmp_path):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook, include_anonymous=True)])
    add_change(redis_client, keys, "anon-9", "cart_abandoners", "entered", user="")
    forwarder(redis_client, keys, syncs).run_once(from_start=True)
    assert [(d.body["person_id"], d.body["user_id"]) for d in hook.deliveries] == [("anon-9", None)]


def test_triggers_start_from_now_by_default(redis_client, keys, hook, tmp_path):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")  # before the first start
    forwarder(redis_client, keys, syncs).run_once()
    assert hook.deliveries == []
    add_change(redis_client, keys, "u-2", "cart_abandoners", "entered")
    forwarder(redis_client, keys, syncs).run_once()
    assert [d.body["person_id"] for d in hook.deliveries] == ["u-2"]


def test_5xx_is_retried_and_each_change_arrives_once(redis_client, keys, hook, tmp_path):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    for i in range(3):
        add_change(redis_client, keys, f"u-{i}", "cart_abandoners", "entered")
    hook.inject_fault(503, count=2)
    hook.inject_fault(500, count=1)
    fw = forwarder(redis_client, keys, syncs)
    stats = fw.run_once(from_start=True)
    assert stats.failures == []
    assert sorted(d.body["person_id"] for d in hook.deliveries) == ["u-0", "u-1", "u-2"]
    assert hook.duplicates() == {} and hook.stats["faults"] == 3
    assert stats.requests == 6  # 3 answered with a 5xx, then 3 delivered
    assert fw.counts()["to_crm"]["sent"] == 3


def test_a_timeout_is_an_unknown_outcome_not_resent_by_default(
    redis_client, keys, hook, tmp_path, monkeypatch
):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")
    add_change(redis_client, keys, "u-2", "cart_abandoners", "entered")
    hook.inject_fault(timeout=1.5, count=1)  # longer than the client's 1 s timeout
    fw = forwarder(redis_client, keys, syncs)
    fw.run_once(from_start=True)
    # the first change's request timed out: unknown, never re-sent (at most once)
    assert [d.body["person_id"] for d in hook.deliveries] == ["u-2"]
    rows = {r["person_id"]: r for r in fw.triggers[0].store.rows().values()}
    assert rows["u-1"]["status"] == "unknown" and "no answer within" in rows["u-1"]["error"]
    assert rows["u-2"]["status"] == "sent"
    forwarder(redis_client, keys, syncs).run_once()
    assert len(hook.deliveries) == 1


def test_a_timeout_with_resend_delivers_again_with_the_same_key(redis_client, keys, hook, tmp_path):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook, on_unknown="resend")])
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")
    hook.inject_fault(timeout=1.5, count=1)
    fw = forwarder(redis_client, keys, syncs)
    fw.run_once(from_start=True)
    assert [d.body["person_id"] for d in hook.deliveries] == ["u-1"]
    assert fw.counts()["to_crm"] == {"enqueued": 1, "sent": 1, "pending": 0}
    (row,) = fw.triggers[0].store.rows().values()
    assert row["attempts"] == 2


def test_a_wrong_secret_is_a_clear_error_and_the_change_stays_queued(
    redis_client, keys, hook, tmp_path, monkeypatch
):
    monkeypatch.setenv("AUDIENCES_WEBHOOK_SECRET", "not-the-receivers-secret")
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")
    fw = forwarder(redis_client, keys, syncs)
    stats = fw.run_once(from_start=True)
    (failure,) = stats.failures
    assert "401" in failure and "AUDIENCES_WEBHOOK_SECRET" in failure
    assert "not-the-receivers-secret" not in failure
    assert hook.deliveries == [] and hook.refused == ["the signature does not match the body"]
    # fixed secret: the queued change goes out
    monkeypatch.setenv("AUDIENCES_WEBHOOK_SECRET", SECRET)
    assert forwarder(redis_client, keys, syncs).run_once().failures == []
    assert [d.body["person_id"] for d in hook.deliveries] == ["u-1"]


def test_a_missing_secret_stops_at_start(redis_client, keys, hook, tmp_path, monkeypatch):
    monkeypatch.delenv("AUDIENCES_WEBHOOK_SECRET")
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    with pytest.raises(CredentialsError, match="AUDIENCES_WEBHOOK_SECRET is not set"):
        forwarder(redis_client, keys, syncs)


def test_a_refused_change_is_rejected_and_not_resent(redis_client, keys, hook, tmp_path):
    hook.config.reject_segments = {"cart_abandoners"}
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")
    add_change(redis_client, keys, "u-2", "viewed_product_3x_24h", "entered")
    fw = forwarder(redis_client, keys, syncs)
    assert fw.run_once(from_start=True).failures == []
    rows = {r["person_id"]: r for r in fw.triggers[0].store.rows().values()}
    assert rows["u-1"]["status"] == "rejected"
    assert rows["u-1"]["error"] == "the receiver answered 422 segment not accepted"
    assert [d.body["person_id"] for d in hook.deliveries] == ["u-2"]


def test_a_malformed_entry_is_skipped_with_its_field_named(
    redis_client, keys, hook, tmp_path, caplog
):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    bad = redis_client.xadd(
        keys.changes,
        {
            "person_id": "u-1",
            "segment_key": "cart_abandoners",
            "change": "joined",
            "at": "2026-11-24T10:15:00",
        },
    )
    add_change(redis_client, keys, "u-2", "cart_abandoners", "entered")
    stats = forwarder(redis_client, keys, syncs).run_once(from_start=True)
    assert stats.malformed == 1 and stats.entries == 2
    assert f"changes entry {bad}: field 'change' is 'joined'" in caplog.text
    assert [d.body["person_id"] for d in hook.deliveries] == ["u-2"]


def test_braze_custom_events_once_each_anonymous_skipped(redis_client, keys, braze, tmp_path):
    syncs = write_syncs(
        tmp_path,
        [{"name": "braze_rt", "destination": "braze", "segments": "all"}],
    )
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")
    add_change(redis_client, keys, "anon-1", "cart_abandoners", "entered", user="")
    add_change(redis_client, keys, "u-1", "cart_abandoners", "exited", "2026-11-24T11:00:00")
    braze.inject_fault(503, count=1)
    fw = forwarder(redis_client, keys, syncs)
    assert fw.run_once(from_start=True).failures == []
    ids = [
        event_id("braze_rt", "u-1", "cart_abandoners", c, datetime(2026, 11, 24, h))
        for c, h in (("entered", 10), ("exited", 11))
    ]
    assert [(e["external_id"], e["name"], e["time"], e["properties"]) for e in braze.events] == [
        (
            "u-1",
            "audience_entered",
            "2026-11-24T10:15:00Z",
            {
                "segment_key": "cart_abandoners",
                "change": "entered",
                "audiences_trigger": "braze_rt",
                "audiences_event_id": event_id(
                    "braze_rt", "u-1", "cart_abandoners", "entered", datetime(2026, 11, 24, 10, 15)
                ),
            },
        ),
        (
            "u-1",
            "audience_exited",
            "2026-11-24T11:00:00Z",
            {
                "segment_key": "cart_abandoners",
                "change": "exited",
                "audiences_trigger": "braze_rt",
                "audiences_event_id": ids[1],
            },
        ),
    ]
    assert fw.counts()["braze_rt"] == {
        "enqueued": 2,
        "sent": 2,
        "pending": 0,
        "skipped_anonymous": 1,
    }


def test_config_errors_name_the_trigger_and_field(tmp_path):
    path = write_syncs(
        tmp_path,
        [
            {
                "name": "ok",
                "destination": "webhook",
                "segments": "all",
                "options": {"url": "ftp://x"},
            },
            {"name": "hubspot_rt", "destination": "hubspot", "segments": ["a"]},
        ],
    )
    with pytest.raises(ConfigError) as exc:
        load_project(path)
    text = str(exc.value)
    assert (
        "trigger 'ok', field 'options': Value error, url: Value error, must be an absolute "
        "http:// or https:// URL" in text
    )
    assert "trigger 'hubspot_rt', field 'destination'" in text and "takes no triggers" in text


def test_duplicate_trigger_names_are_refused(tmp_path):
    t = {
        "name": "t",
        "destination": "webhook",
        "segments": "all",
        "options": {"url": "https://h.example/x"},
    }
    with pytest.raises(ConfigError, match="trigger 't' is declared twice"):
        load_project(write_syncs(tmp_path, [t, t]))


def test_one_forwarder_per_prefix(redis_client, keys, hook, tmp_path):
    syncs = write_syncs(tmp_path, [webhook_trigger(hook)])
    first = forwarder(redis_client, keys, syncs, lock_ttl=30.0)
    first.start()
    # the second waits its own lock_ttl + 1 s for the first's lock, which stays held
    second = forwarder(redis_client, keys, syncs, lock_ttl=0.5)
    with pytest.raises(
        TriggersAlreadyRunningError, match="another `audiences triggers` is running"
    ):
        second.start()
    first.close()
    # once released, the next one starts at once; a lock that expired while its holder was
    # busy is taken back by the holder when nobody else took it
    second.start()
    redis_client.delete(keys.triggers_lock)
    second._keep_lock()
    assert redis_client.get(keys.triggers_lock) == second._token
    second.close()


def test_settled_rows_are_pruned_after_the_retention_and_counts_stay(
    redis_client, keys, hook, tmp_path, monkeypatch
):
    import audiences.realtime.trigger_outbox as trigger_outbox
    from reverse_etl.core.clock import now
    from reverse_etl.event_outbox import OutboxRow

    hook.config.reject_segments = {"cart_abandoners"}
    trigger = {**webhook_trigger(hook), "keep_settled_days": 7}
    syncs = write_syncs(tmp_path, [trigger])
    add_change(redis_client, keys, "u-1", "cart_abandoners", "entered")
    add_change(redis_client, keys, "u-2", "viewed_product_3x_24h", "entered")
    fw = forwarder(redis_client, keys, syncs)
    assert fw.run_once(from_start=True).pruned == 0  # settled just now: kept
    store = fw.triggers[0].store
    assert sorted(r["status"] for r in store.rows().values()) == ["rejected", "sent"]
    # a change still waiting to be sent is never pruned
    waiting = OutboxRow("u-3", "u-3", "viewed_product_3x_24h", "entered", datetime(2026, 11, 24))
    assert store.enqueue([waiting]) == 1

    started = now()
    monkeypatch.setattr(trigger_outbox, "now", lambda: started + timedelta(days=7, seconds=-5))
    assert store.prune(timedelta(days=7)) == 0  # not 7 days yet
    monkeypatch.setattr(trigger_outbox, "now", lambda: started + timedelta(days=7, seconds=5))
    assert store.prune(timedelta(days=7)) == 2
    assert [r["person_id"] for r in store.rows().values()] == ["u-3"]
    assert not redis_client.exists(keys.trigger_settled("to_crm"))
    assert store.counts() == {"enqueued": 3, "sent": 1, "rejected": 1}
    assert store.prune(timedelta(days=7)) == 0
