"""Braze: user attributes through ``POST /users/track`` keyed by ``external_id``, plus one
custom event per segment entry / exit sent exactly once through the event outbox
(:mod:`reverse_etl.event_outbox`, ADR 0005): this module declares the events capability
(:class:`reverse_etl.destinations.capabilities.EventsAfterSync`) and builds the requests; the
outbox owns their state.

Attributes: every mapped field is sent as a custom (or standard) attribute. The segment keys
travel as an array attribute (the model's ';'-joined text split into a list; the whole array
is set, so a re-send is idempotent). Text from the diff is typed per ``options``: numbers,
integers, booleans and times are sent with a stable JSON type, because Braze locks an
attribute's type on its first value. Empty values are sent as ``null`` (Braze removes the
attribute). ``email`` / ``phone`` / ``country`` are normalised (lower-case address, E.164
phone, ISO alpha-2 country) and sent in clear: Braze does not take hashes.

Mirror removals never delete a profile: they take back what this sync wrote. By default
(``clear_on_removal: all``) every mapped attribute is set to ``null`` and the array attributes
to ``[]`` (``_update_existing_only``), so a person whose consent was withdrawn or who was
erased keeps no data of ours in Braze and leaves every segment built on our attributes; a
list of attribute names clears only those (the arrays are always emptied).
"""

from __future__ import annotations

import math
import time
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from reverse_etl import identifiers as ids
from reverse_etl import settings
from reverse_etl.core.errors import BatchRejectedError, CredentialsError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.core.trigger import TriggerConfig
from reverse_etl.destinations.capabilities import EventSpec, SegmentEvent, Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import ErrorInfo, ResponseClassifier, json_body
from reverse_etl.settings import redact

KEY_ENV = "BRAZE_API_KEY"
URL_ENV = "BRAZE_REST_ENDPOINT"

# Published limits (destination-apis.md 2.4). One place to update them.
OBJECT_LIMIT = 75  # objects in total per /users/track request (50 on MAU plans)
REQUESTS_PER_WINDOW = 3000
WINDOW_SECONDS = 3.0
TRACK = "/users/track"
EXPORT = "/users/export/ids"
EXPORT_LIMIT = 50


class EventOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "segment_membership_changes"
    entered_name: str = "audiences_segment_entered"
    exited_name: str = "audiences_segment_exited"
    change_column: str = "change_type"
    #: send the changes that exist before the first run (default: start from now)
    backfill: bool = False
    #: a send whose outcome is unknown (no response, crash before commit): "skip" keeps
    #: events at most once, "resend" makes them at least once (ADR 0005)
    on_unknown: Literal["skip", "resend"] = "skip"


class BrazeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    object_limit: int = Field(default=OBJECT_LIMIT, ge=1, le=75)
    array_fields: list[str] = ["audiences_segments"]
    number_fields: list[str] = []
    integer_fields: list[str] = []
    boolean_fields: list[str] = []
    time_fields: list[str] = []
    clear_on_removal: list[str] | Literal["all"] = "all"
    events: EventOptions | None = None
    #: the workspace the API key belongs to: part of the account the state is bound to
    workspace: str | None = None


def reset_wait(resp: requests.Response, reset_header: bool = True) -> float | None:
    """Seconds until Braze's ``X-RateLimit-Reset`` (epoch seconds), or ``Retry-After``."""
    for name in ("Retry-After", "X-RateLimit-Reset") if reset_header else ("Retry-After",):
        value = resp.headers.get(name)
        if not value:
            continue
        try:
            v = float(value)
        except ValueError:
            continue
        return max(0.0, v if name == "Retry-After" else v - time.time())
    return None


def _read_error(resp: requests.Response) -> ErrorInfo:
    message = str(json_body(resp).get("message") or resp.reason or "")
    return ErrorInfo(
        detail=message,
        retry_after=reset_wait(resp, reset_header=False),
        # X-RateLimit-Reset only says when a throttled window ends
        throttle_retry_after=reset_wait(resp),
    )


CLASSIFIER = ResponseClassifier(
    product="Braze",
    credentials_hint=f"check that {KEY_ENV} holds a key with the users.track permission and "
    f"that {URL_ENV} is your instance's REST endpoint",
    read_error=_read_error,
    auth_statuses=(401, 403, 404),
)


def braze_http_config() -> tuple[str, dict[str, str]]:
    key = reveal(settings.secret(KEY_ENV))
    if not key:
        raise CredentialsError(
            f"{KEY_ENV} is not set: create a REST API key with the users.track permission in "
            f"Braze (Settings > APIs and Identifiers) and export it as {KEY_ENV}"
        )
    base = settings.value(URL_ENV)
    if not base:
        raise CredentialsError(
            f"{URL_ENV} is not set: export your instance's REST endpoint, e.g. "
            "https://rest.iad-01.braze.com"
        )
    return base, {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def error_text(err: dict[str, Any]) -> str:
    return redact(str(err.get("type") or err.get("message") or "rejected by Braze"))


class BrazeDestination:
    name = "braze"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, options: BrazeOptions):
        self.sync = sync
        self.options = options
        self.limits = limits_for(sync, options.object_limit, REQUESTS_PER_WINDOW, WINDOW_SECONDS)
        self.event_counts: dict[str, int] = {}

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> BrazeDestination:
        return cls(sync, parse_options(BrazeOptions, sync))

    def http_config(self) -> tuple[str, dict[str, str]]:
        return braze_http_config()

    def check_response(self, resp: requests.Response) -> None:
        CLASSIFIER.check(resp)

    def account_key(self) -> str:
        base = account_url(settings.value(URL_ENV) or "")
        return f"{base} workspace={self.options.workspace or '-'}"

    def prepare(self, transport: Transport) -> None:
        return None

    # --- payloads --------------------------------------------------------------------------
    def _value(self, name: str, text: str) -> Any:
        o = self.options
        if name in o.array_fields:
            return sorted({s.strip() for s in text.split(";") if s.strip()})
        if text == "":
            return None
        if name in o.number_fields:
            try:
                v = float(text)
            except ValueError:
                return text
            return v if math.isfinite(v) else None
        if name in o.integer_fields:
            try:
                return int(float(text))
            except ValueError:
                return text
        if name in o.boolean_fields:
            return text.lower() in ("true", "t", "1", "yes")
        if name in o.time_fields:
            return text if text.endswith("Z") or "+" in text[10:] else text + "Z"
        if name == "email":
            return ids.braze_email(text) or text.strip()
        if name == "country":
            return ids.braze_country(text) or text.strip()
        return text

    def attributes(self, r: Record) -> dict[str, Any]:
        obj: dict[str, Any] = {"external_id": r.key}
        country = r.fields.get("country")
        for name, text in r.fields.items():
            if name == "phone":
                obj[name] = (ids.braze_phone(text, country) or text.strip()) if text else None
            else:
                obj[name] = self._value(name, text)
        return obj

    def removal(self, r: Record) -> dict[str, Any]:
        obj: dict[str, Any] = {"external_id": r.key, "_update_existing_only": True}
        for name in self.options.array_fields:
            obj[name] = []
        clear = self.options.clear_on_removal
        for name in self.sync.mapping if clear == "all" else clear:
            if name not in self.options.array_fields:
                obj[name] = None
        return obj

    # --- sending -----------------------------------------------------------------------------
    def _track(
        self, transport: Transport, records: list[Record], objs: list[dict[str, Any]]
    ) -> list[RowResult]:
        resp = transport.request("POST", TRACK, json_body={"attributes": objs}, expect=(400,))
        body = json_body(resp)
        errors = {
            int(e["index"]): error_text(e)
            for e in body.get("errors") or []
            if isinstance(e, dict)
            and e.get("input_array") == "attributes"
            and isinstance(e.get("index"), int)
        }
        if resp.status_code == 400 and not errors:
            raise BatchRejectedError(
                f"Braze POST {TRACK}: rejected ({redact(str(body.get('message') or ''))})", 400
            )
        out = []
        for i, r in enumerate(records):
            if i in errors:
                out.append(RowResult(r.key, Outcome.REJECTED, error=errors[i]))
            elif resp.status_code == 400:
                # Braze refused the whole request but named other objects: not processed.
                out.append(
                    RowResult(
                        r.key,
                        Outcome.REJECTED,
                        error="not processed: Braze rejected the request "
                        f"({redact(str(body.get('message') or ''))})",
                    )
                )
            else:
                out.append(RowResult(r.key, Outcome.ACKED, dest_id=r.key))
        return out

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return self._track(transport, records, [self.attributes(r) for r in records])

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        if not (self.options.array_fields or self.options.clear_on_removal):  # nothing to undo
            return [RowResult(r.key, Outcome.ACKED) for r in records]
        return self._track(transport, records, [self.removal(r) for r in records])

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Read the in-flight profiles back with ``/users/export/ids`` (50 ids a request; it
        is only used after a crash) and acknowledge those that already hold exactly what the
        batch wrote. The others are re-sent, which is harmless: attribute writes are absolute.
        (``/users/track`` only queues, so a write from just before the crash may not be
        visible yet: it is then re-sent once.)"""
        results: dict[str, RowResult] = {}
        for i in range(0, len(records), EXPORT_LIMIT):
            chunk = records[i : i + EXPORT_LIMIT]
            resp = transport.request(
                "POST",
                EXPORT,
                json_body={"external_ids": [r.key for r in chunk]},
                expect=(400, 401, 403),
            )
            if resp.status_code >= 400:  # no export permission: re-send
                return [RowResult(r.key, Outcome.NOT_APPLIED) for r in records]
            seen = {}
            for u in json_body(resp).get("users") or []:
                flat = {k: v for k, v in u.items() if k != "custom_attributes"}
                flat.update(u.get("custom_attributes") or {})
                seen[str(u.get("external_id"))] = flat
            for r in chunk:
                want = self.removal(r) if r.action == "remove" else self.attributes(r)
                got = seen.get(r.key)
                applied = got is not None and all(
                    (got.get(k) in (None, []) if v in (None, []) else got.get(k) == v)
                    for k, v in want.items()
                    if k not in ("external_id", "_update_existing_only")
                )
                results[r.key] = RowResult(
                    r.key, Outcome.ACKED if applied else Outcome.NOT_APPLIED, dest_id=r.key
                )
        return [results[r.key] for r in records]

    # --- events (exactly-once through the outbox: reverse_etl.event_outbox) --------------------
    def event_spec(self) -> EventSpec | None:
        ev = self.options.events
        if ev is None:
            return None
        return EventSpec(
            model=ev.model,
            change_column=ev.change_column,
            backfill=ev.backfill,
            on_unknown=ev.on_unknown,
            batch_size=self.limits.batch_size,
        )

    def _event(self, e: SegmentEvent) -> dict[str, Any]:
        ev = self.options.events
        assert ev is not None
        return {
            "external_id": e.user_id,
            "name": ev.entered_name if e.change == "entered" else ev.exited_name,
            "time": e.changed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {
                "segment": e.segment_key,
                "change": e.change,
                "audiences_sync": self.sync.name,
                "audiences_event_id": e.event_id,
            },
        }

    def send_events(self, transport: Transport, events: list[SegmentEvent]) -> list[RowResult]:
        return track_events(transport, events, [self._event(e) for e in events])


def track_events(
    transport: Transport, events: list[SegmentEvent], payloads: list[dict[str, Any]]
) -> list[RowResult]:
    """One ``/users/track`` request with events only. Braze appends every event it gets,
    so the request is never retried when it may have arrived (``retry_unknown=False``).
    A 400 that names events rejects every event of the request (Braze processed none)."""
    resp = transport.request(
        "POST",
        TRACK,
        json_body={"events": payloads},
        expect=(400,),
        retry_unknown=False,
    )
    body = json_body(resp)
    errors = {
        int(e["index"]): redact(str(e.get("type") or "rejected"))
        for e in body.get("errors") or []
        if isinstance(e, dict)
        and e.get("input_array") == "events"
        and isinstance(e.get("index"), int)
    }
    if resp.status_code == 400 and not errors:
        raise BatchRejectedError(
            f"Braze POST {TRACK} (events): rejected ({redact(str(body.get('message') or ''))})",
            400,
        )
    return [
        RowResult(e.event_id, Outcome.ACKED)
        if i not in errors and resp.status_code < 300
        else RowResult(e.event_id, Outcome.REJECTED, error=errors.get(i, "rejected by Braze"))
        for i, e in enumerate(events)
    ]


# --- real-time triggers (audiences/realtime/triggers.py, ADR 0009) ----------------------------
class BrazeTriggerOptions(BaseModel):
    """``options`` of a trigger with ``destination: braze``."""

    model_config = ConfigDict(extra="forbid")
    entered_name: str = Field(default="audience_entered", min_length=1, max_length=255)
    exited_name: str = Field(default="audience_exited", min_length=1, max_length=255)
    #: events per /users/track request
    object_limit: int = Field(default=OBJECT_LIMIT, ge=1, le=75)
    #: a send whose outcome is unknown: "skip" (at most once) or "resend" (ADR 0005)
    on_unknown: Literal["skip", "resend"] = "skip"


class BrazeTriggerTarget:
    """Segment entries and exits from the stream as Braze custom events: ``external_id`` =
    the person's user id (anonymous persons are skipped), the segment key and the change as
    properties, plus ``audiences_event_id`` (the outbox key's hash) for deduplication."""

    name = "braze"
    takes_anonymous = False

    def __init__(self, trigger: TriggerConfig, options: BrazeTriggerOptions):
        self.trigger = trigger
        self.options = options
        self.on_unknown = options.on_unknown
        self.limits = limits_for(trigger, options.object_limit, REQUESTS_PER_WINDOW, WINDOW_SECONDS)

    @classmethod
    def from_trigger(cls, trigger: TriggerConfig) -> BrazeTriggerTarget:
        return cls(trigger, parse_options(BrazeTriggerOptions, trigger))

    def http_config(self) -> tuple[str, dict[str, str]]:
        return braze_http_config()

    def check_response(self, resp: requests.Response) -> None:
        CLASSIFIER.check(resp)

    def event(self, e: SegmentEvent) -> dict[str, Any]:
        o = self.options
        return {
            "external_id": e.user_id,
            "name": o.entered_name if e.change == "entered" else o.exited_name,
            "time": e.changed_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "properties": {
                "segment_key": e.segment_key,
                "change": e.change,
                "audiences_trigger": self.trigger.name,
                "audiences_event_id": e.event_id,
            },
        }

    def send_events(self, transport: Transport, events: list[SegmentEvent]) -> list[RowResult]:
        return track_events(transport, events, [self.event(e) for e in events])


SPEC = DestinationSpec(
    name="braze",
    options=BrazeOptions,
    secret_env=(KEY_ENV,),
    env=(URL_ENV,),
    build=BrazeDestination.from_sync,
    trigger_options=BrazeTriggerOptions,
    build_trigger=BrazeTriggerTarget.from_trigger,
)
