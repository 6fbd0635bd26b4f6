"""A generic signed webhook: POST JSON to a URL the user configures.

Every request is signed with HMAC-SHA256 over ``<unix time>.<body bytes>`` with a secret
from an environment variable (``AUDIENCES_WEBHOOK_SECRET`` by default, or the one named by
``options.secret_env``; never logged), in the header
``X-Audiences-Signature: t=<unix time>,v1=<hex digest>``. The signature is computed again on
every attempt, over a fresh timestamp, so a receiver may refuse stale ones (docs/realtime.md,
"Verifying a webhook"). Each request carries an ``Idempotency-Key`` header: the same value
when the same content is sent again, so a receiver can drop a duplicate.

- **Real-time triggers** (``triggers:`` in syncs.yml): one request per segment entry or exit,
  ``Idempotency-Key`` = the change's outbox id, sent through the event outbox (ADR 0005, ADR
  0009). A 2xx acknowledges it; 400, 404, 410, 413 or 422 reject it (recorded with the
  receiver's message, not re-sent); 401 / 403 stop with a message about the secret; 408,
  429 and 5xx are retried; a timeout is an unknown outcome (``on_unknown``).
- **Syncs** (``destination: webhook``): each batch of added or changed rows is one request
  ``{"type": "records.upserted", "sync", "records": [{"key", "fields"}]}`` (removed rows:
  ``records.removed``, keys only), ``Idempotency-Key`` = a hash of the batch. A 400 or 422
  rejects the batch and the engine splits it to find the refused rows.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator

from reverse_etl import settings
from reverse_etl.core.errors import CredentialsError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.core.trigger import TriggerConfig
from reverse_etl.destinations.capabilities import SegmentEvent, Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import ErrorInfo, ResponseClassifier, json_body, retry_after_header
from reverse_etl.settings import redact, register_secret_env

SECRET_ENV = "AUDIENCES_WEBHOOK_SECRET"
SIGNATURE_HEADER = "X-Audiences-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
#: answers that refuse one change for its content (recorded as rejected, never re-sent)
REJECT_STATUSES = (400, 404, 410, 413, 422)
_ENV_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Audiences-Signature`` value of ``body`` signed at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


class _Target(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: the receiver's URL (https:// in production; http:// is allowed for a local receiver)
    url: str
    #: the environment variable holding the signing secret
    secret_env: str = SECRET_ENV
    #: at most this many requests per second (None: no client-side limit)
    requests_per_second: float | None = Field(default=None, gt=0)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL")
        if parts.username or parts.password:
            raise ValueError("must not hold a user or password (the request is signed)")
        return v

    @field_validator("secret_env")
    @classmethod
    def _secret_env(cls, v: str) -> str:
        if not _ENV_RE.match(v):
            raise ValueError("must be an environment variable name (A-Z, 0-9, _)")
        return v


class WebhookOptions(_Target):
    """``options`` of a sync with ``destination: webhook``."""

    batch_size: int = Field(default=100, ge=1, le=10_000)


class WebhookTriggerOptions(_Target):
    """``options`` of a trigger with ``destination: webhook``."""

    #: a send whose outcome is unknown: "skip" (at most once) or "resend" (at least once;
    #: the Idempotency-Key lets the receiver drop the duplicate), ADR 0005
    on_unknown: Literal["skip", "resend"] = "skip"
    #: also send changes of anonymous persons (user_id null)
    include_anonymous: bool = False


def _read_error(resp: requests.Response) -> ErrorInfo:
    body = json_body(resp)
    detail = body.get("message") or body.get("error") or resp.reason or ""
    return ErrorInfo(detail=str(detail), retry_after=retry_after_header(resp))


class _Signed:
    """What syncs and triggers share: URL, secret, signature, response ladder."""

    options: _Target

    def _init_target(self, options: _Target) -> None:
        self.options = options
        register_secret_env(options.secret_env)
        parts = urlsplit(options.url)
        self.base_url = options.url
        self.classifier = ResponseClassifier(
            product="webhook",
            credentials_hint=f"the receiver refused the request's signature: check that "
            f"{options.secret_env} holds the secret the receiver at {parts.hostname} verifies "
            "with",
            read_error=_read_error,
        )

    def _secret(self) -> str:
        value = reveal(settings.secret(self.options.secret_env))
        if not value:
            raise CredentialsError(
                f"{self.options.secret_env} is not set: export the webhook's signing secret "
                "(the receiver verifies X-Audiences-Signature with it)"
            )
        return value

    def http_config(self) -> tuple[str, dict[str, str]]:
        self._secret()  # fail before the first request, not on it
        return self.base_url, {"User-Agent": "audiences-webhook/1"}

    def check_response(self, resp: requests.Response) -> None:
        self.classifier.check(resp)

    def account_key(self) -> str:
        parts = urlsplit(self.options.url)
        return f"{account_url(self.options.url)}{parts.path or '/'}"

    def signer(self, key: str) -> Callable[[bytes], dict[str, str]]:
        secret = self._secret()

        def sign(body: bytes) -> dict[str, str]:
            return {
                SIGNATURE_HEADER: signature(secret, int(time.time()), body),
                IDEMPOTENCY_HEADER: key,
            }

        return sign

    def _rate(self) -> tuple[int | None, float]:
        rps = self.options.requests_per_second
        if rps is None:
            return None, 1.0
        return max(1, round(rps * 10)), 10.0


class WebhookDestination(_Signed):
    """``destination: webhook`` for a sync: each batch is one signed request."""

    name = "webhook"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, options: WebhookOptions):
        self.sync = sync
        self._init_target(options)
        rate, window = self._rate()
        self.limits = limits_for(sync, options.batch_size, rate, window)

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> WebhookDestination:
        return cls(sync, parse_options(WebhookOptions, sync))

    def prepare(self, transport: Transport) -> None:
        return None

    def _post(self, transport: Transport, kind: str, records: list[Record]) -> list[RowResult]:
        items: list[dict[str, Any]] = [
            {"key": r.key, "fields": r.fields} if kind == "records.upserted" else {"key": r.key}
            for r in records
        ]
        key = hashlib.sha256(
            "\x1f".join(
                [self.sync.name, kind, *(f"{r.key}\x1e{r.fingerprint or ''}" for r in records)]
            ).encode()
        ).hexdigest()[:32]
        transport.request(
            "POST",
            "",
            json_body={"type": kind, "sync": self.sync.name, "records": items},
            sign=self.signer(key),
        )
        return [RowResult(r.key, Outcome.ACKED, dest_id=r.key) for r in records]

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return self._post(transport, "records.upserted", records)

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return self._post(transport, "records.removed", records)


class WebhookTriggerTarget(_Signed):
    """A trigger's changes, one signed request each (``Idempotency-Key`` = the change's
    outbox id)."""

    name = "webhook"

    def __init__(self, trigger: TriggerConfig, options: WebhookTriggerOptions):
        self.trigger = trigger
        self._init_target(options)
        self.on_unknown = options.on_unknown
        self.takes_anonymous = options.include_anonymous
        rate, window = self._rate()
        # one change per request: each has its own idempotency key and its own outcome
        self.limits = limits_for(trigger, 1, rate, window)

    @classmethod
    def from_trigger(cls, trigger: TriggerConfig) -> WebhookTriggerTarget:
        return cls(trigger, parse_options(WebhookTriggerOptions, trigger))

    def payload(self, e: SegmentEvent) -> dict[str, Any]:
        return {
            "id": e.event_id,
            "type": f"segment.{e.change}",
            "trigger": self.trigger.name,
            "segment_key": e.segment_key,
            "change": e.change,
            "person_id": e.person_id,
            "user_id": e.user_id or None,
            "occurred_at": e.changed_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def send_events(self, transport: Transport, events: list[SegmentEvent]) -> list[RowResult]:
        """One request per change, never retried once it may have arrived
        (``retry_unknown=False``); call it with one change (``limits.batch_size`` is 1) so an
        unknown outcome concerns exactly that change."""
        out = []
        for e in events:
            resp = transport.request(
                "POST",
                "",
                json_body=self.payload(e),
                expect=REJECT_STATUSES,
                retry_unknown=False,
                sign=self.signer(e.event_id),
            )
            if resp.status_code in REJECT_STATUSES:
                info = _read_error(resp)
                out.append(
                    RowResult(
                        e.event_id,
                        Outcome.REJECTED,
                        error=redact(f"the receiver answered {resp.status_code} {info.detail}"),
                    )
                )
            else:
                out.append(RowResult(e.event_id, Outcome.ACKED))
        return out


SPEC = DestinationSpec(
    name="webhook",
    options=WebhookOptions,
    secret_env=(SECRET_ENV,),
    build=WebhookDestination.from_sync,
    trigger_options=WebhookTriggerOptions,
    build_trigger=WebhookTriggerTarget.from_trigger,
)
