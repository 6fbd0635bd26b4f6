"""The `webhook` destination used by a sync (each batch one signed request) and its
signature helper, against the receiver emulator over loopback."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from triggers_support import FAST_RETRY, SECRET

from audiences_emulators.webhook import WebhookConfig, WebhookEmulator
from reverse_etl.core.errors import ConfigError, DestinationError
from reverse_etl.core.records import Outcome, Record
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.registry import build_destination
from reverse_etl.destinations.webhook import WebhookDestination, signature
from reverse_etl.engine import transport_for
from reverse_etl.settings import redact


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert signature("k", 1700000000, body) == f"t=1700000000,v1={expected}"


def _sync(url: str, **options) -> SyncConfig:
    return SyncConfig(
        name="crm_push",
        model="aud_braze_users",
        destination="webhook",
        identity="external_id",
        mapping={"email": "email", "segments": "segments"},
        options={"url": url, **options},
    )


@pytest.fixture
def hook(monkeypatch):
    monkeypatch.setenv("AUDIENCES_WEBHOOK_SECRET", SECRET)
    with WebhookEmulator(config=WebhookConfig(secret=SECRET)) as emu:
        yield emu


def test_a_sync_batch_is_one_signed_request_with_a_stable_idempotency_key(hook):
    dest = build_destination(_sync(hook.endpoint))
    assert isinstance(dest, WebhookDestination)
    t = transport_for(dest, FAST_RETRY)
    records = [
        Record("u1", "add", "f1", {"email": "a@example.com", "segments": "vip"}),
        Record("u2", "change", "f2", {"email": "b@example.com", "segments": ""}),
    ]
    hook.inject_fault(502, count=1)
    results = dest.send_upserts(t, records)
    assert [(r.key, r.outcome) for r in results] == [("u1", Outcome.ACKED), ("u2", Outcome.ACKED)]
    removed = dest.send_removals(t, [Record("u3", "remove", None)])
    assert removed[0].outcome is Outcome.ACKED
    dest.send_upserts(t, records)  # the same batch again: the same key
    assert [d.body for d in hook.deliveries] == [
        {
            "type": "records.upserted",
            "sync": "crm_push",
            "records": [
                {"key": "u1", "fields": {"email": "a@example.com", "segments": "vip"}},
                {"key": "u2", "fields": {"email": "b@example.com", "segments": ""}},
            ],
        },
        {"type": "records.removed", "sync": "crm_push", "records": [{"key": "u3"}]},
        hook.deliveries[0].body,
    ]
    k = [d.idempotency_key for d in hook.deliveries]
    assert k[0] == k[2] != k[1]
    assert t.requests == 4  # one 502 retried


def test_a_wrong_secret_names_the_variable_not_the_value(hook, monkeypatch):
    monkeypatch.setenv("AUDIENCES_WEBHOOK_SECRET", "wrong-secret-value")
    dest = build_destination(_sync(hook.endpoint))
    t = transport_for(dest, FAST_RETRY)
    with pytest.raises(DestinationError) as exc:
        dest.send_upserts(t, [Record("u1", "add", "f1", {"email": "a@example.com"})])
    assert "401" in str(exc.value) and "AUDIENCES_WEBHOOK_SECRET" in str(exc.value)
    assert "wrong-secret-value" not in str(exc.value)


def test_a_custom_secret_variable_is_used_and_redacted(hook, monkeypatch):
    monkeypatch.delenv("AUDIENCES_WEBHOOK_SECRET")
    monkeypatch.setenv("CRM_HOOK_SECRET", SECRET)
    dest = build_destination(_sync(hook.endpoint, secret_env="CRM_HOOK_SECRET"))
    dest.send_upserts(transport_for(dest, FAST_RETRY), [Record("u1", "add", "f", {})])
    assert len(hook.deliveries) == 1
    assert redact(f"x {SECRET} y") == "x *** y"


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="secret_env: Value error, must be an environment"):
        build_destination(_sync("https://h.example/x", secret_env="lower-case"))
    with pytest.raises(ConfigError, match="must not hold a user or password"):
        build_destination(_sync("https://user:pw@h.example/x"))
