"""Google Customer Match through the Data Manager API (destination-apis.md §4.0, §4.8): members
of one Google Ads user list per sync, ingested and removed with
``POST /v1/audienceMembers:ingest`` / ``:remove`` (at most 10,000 members per request).

- Mapping keys: ``email``, ``phone``, ``first_name``, ``last_name``, ``country``,
  ``postal_code`` and optionally ``ad_user_data`` / ``ad_personalization`` (consent columns:
  true/false or GRANTED/DENIED). Email and phone are normalised with the Data Manager rules
  (no whitespace, lower-case, Gmail dots and ``+tag`` dropped; E.164 with the ``+``) and
  SHA-256 hashed here, as are names; country and postal code go in clear inside ``address``
  (sent only when all four address parts exist, as Google requires).
- Consent per member: from the consent columns when mapped, else ``CONSENT_GRANTED`` for both
  purposes, because the audience mart only holds people with ads consent (DESIGN.md §5).
- ``validate`` sends a batch with ``validateOnly`` (used by ``--dry-run``); nothing is applied.
- 429 ``RESOURCE_EXHAUSTED`` is retried after Google's ``retryDelay``; every ``requestId`` is
  logged and kept in :attr:`GoogleDataManagerDestination.request_ids`.
- The hashed identifiers are kept as the destination id in the sync state, so removals send
  exactly what was ingested.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from reverse_etl import identifiers as ids
from reverse_etl.config import SyncConfig
from reverse_etl.destinations.base import Outcome, Record, RowResult, Transport
from reverse_etl.destinations.braze import json_body, limits_for, parse_options
from reverse_etl.errors import (
    SECRET_ENV_VARS,
    BatchRejectedError,
    ConfigError,
    CredentialsError,
    DestinationError,
    QuotaExhaustedError,
    TransientError,
    redact,
)

log = logging.getLogger("reverse_etl")

TOKEN_ENV = "GOOGLE_ACCESS_TOKEN"
URL_ENV = "GOOGLE_DATA_MANAGER_URL"
DEFAULT_URL = "https://datamanager.googleapis.com"
SECRET_ENV_VARS.add(TOKEN_ENV)

# Published limits (destination-apis.md 4.8). One place to update them.
MEMBER_LIMIT = 10_000
IDENTIFIER_LIMIT = 10
REQUESTS_PER_MINUTE = 300
FIELDS = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "country",
    "postal_code",
    "ad_user_data",
    "ad_personalization",
}
T_REQUESTS = "reverse_etl.google_dm_requests"


def check_mapping(sync: SyncConfig, api: str) -> None:
    """Both Google APIs take the same member fields; name the ones ``api`` does not know."""
    unknown = sorted(set(sync.mapping) - FIELDS)
    if unknown:
        raise ConfigError(
            f"sync {sync.name!r}, field 'mapping': unknown {api} "
            f"field(s) {', '.join(unknown)} (use {', '.join(sorted(FIELDS))})"
        )


_MEMBER_INDEX = re.compile(r"audience_?[mM]embers\[(\d+)\]")

DM_IDENTIFIER_KEYS = ids.GoogleIdentifierKeys(
    email="emailAddress",
    phone="phoneNumber",
    address="address",
    given_name="givenName",
    family_name="familyName",
    region="regionCode",
    api="dm",
)


class DataManagerOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str = Field(pattern=r"^\d{1,20}$")
    account_type: Literal[
        "GOOGLE_ADS", "DISPLAY_VIDEO_PARTNER", "DISPLAY_VIDEO_ADVERTISER", "DATA_PARTNER"
    ] = "GOOGLE_ADS"
    user_list_id: str = Field(pattern=r"^\d{1,20}$")
    login_account_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")
    login_account_type: str = "GOOGLE_ADS"
    terms_of_service_accepted: bool = True
    batch_size: int = Field(default=MEMBER_LIMIT, ge=1, le=MEMBER_LIMIT)


# --- Google error envelope (shared with the Google Ads destination) ---------------------------
def google_error(resp: requests.Response) -> dict[str, Any]:
    err = json_body(resp).get("error")
    return err if isinstance(err, dict) else {}


def _seconds(value: Any) -> float | None:
    if isinstance(value, dict):  # {"seconds": "3", "nanos": 0}
        return float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
    m = re.match(r"^\s*([\d.]+)s\s*$", str(value or ""))
    return float(m.group(1)) if m else None


def retry_delay(err: dict[str, Any]) -> float | None:
    """``RetryInfo.retryDelay`` or ``QuotaErrorDetails.retryDelay`` anywhere in the details."""
    stack: list[Any] = list(err.get("details") or [])
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k == "retryDelay":
                    s = _seconds(v)
                    if s is not None:
                        return s
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return None


def error_codes(err: dict[str, Any]) -> list[str]:
    """Every ``errorCode`` value in a GoogleAdsFailure (e.g. CONCURRENT_MODIFICATION)."""
    out = []
    for d in err.get("details") or []:
        for e in (d or {}).get("errors") or []:
            out.extend(str(v) for v in ((e or {}).get("errorCode") or {}).values())
    return out


def check_google_response(
    resp: requests.Response, product: str, token_env: str, retryable: tuple[str, ...] = ()
) -> None:
    status = resp.status_code
    if 200 <= status < 300:
        return
    err = google_error(resp)
    where = redact(
        f"{product} {resp.request.method if resp.request else ''} {resp.url.split('?')[0]}"
    )
    codes = error_codes(err)
    text = f"{where}: {status} {err.get('status') or ''} {redact(str(err.get('message') or ''))}"
    if codes:
        text += f" [{', '.join(codes)}]"
    if status == 429 or err.get("status") == "RESOURCE_EXHAUSTED":
        delay = retry_delay(err)
        if delay is not None and delay > 900:
            raise QuotaExhaustedError(
                f"{text}; quota returns in {delay / 3600:.1f} h: the sync resumes on the next run"
            )
        raise TransientError(text, retry_after=delay, status=status)
    if status >= 500 or status == 408 or any(c in retryable for c in codes):
        raise TransientError(text, retry_after=retry_delay(err), status=status)
    if status in (401, 403):
        raise DestinationError(
            f"{text}; check {token_env} (an OAuth access token with the "
            "right scope) and the account ids in syncs.yml"
        )
    if status == 400:
        raise BatchRejectedError(text, status)
    raise DestinationError(text)


def _consent(value: str | None) -> str | None:
    v = (value or "").strip().upper()
    if v in ("TRUE", "T", "1", "YES", "GRANTED", "CONSENT_GRANTED"):
        return "CONSENT_GRANTED"
    if v in ("FALSE", "F", "0", "NO", "DENIED", "CONSENT_DENIED"):
        return "CONSENT_DENIED"
    return None


class GoogleDataManagerDestination:
    name = "google_data_manager"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, options: DataManagerOptions):
        self.sync = sync
        self.options = options
        check_mapping(sync, "Data Manager")
        self.limits = limits_for(sync, options.batch_size, REQUESTS_PER_MINUTE, 60.0)
        self.request_ids: list[str] = []

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> GoogleDataManagerDestination:
        return cls(sync, parse_options(DataManagerOptions, sync))

    def http_config(self) -> tuple[str, dict[str, str]]:
        token = os.environ.get(TOKEN_ENV)
        if not token:
            raise CredentialsError(
                f"{TOKEN_ENV} is not set: export an OAuth 2 access token with the "
                f"https://www.googleapis.com/auth/datamanager scope as {TOKEN_ENV}"
            )
        base = (os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        return base, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def check_response(self, resp: requests.Response) -> None:
        check_google_response(resp, "Google Data Manager", TOKEN_ENV)

    def prepare(self, transport: Transport) -> None:
        return None

    # --- members ---------------------------------------------------------------------------
    def identifiers(self, f: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        """(userIdentifiers, problem). The problem names the field, never its value."""
        out, problem = ids.google_user_identifiers(f, DM_IDENTIFIER_KEYS)
        return out[:IDENTIFIER_LIMIT], problem

    def member(self, f: dict[str, str], identifiers: list[dict[str, Any]]) -> dict[str, Any]:
        consent = {
            "adUserData": _consent(f.get("ad_user_data")) or "CONSENT_GRANTED",
            "adPersonalization": _consent(f.get("ad_personalization")) or "CONSENT_GRANTED",
        }
        return {"userData": {"userIdentifiers": identifiers}, "consent": consent}

    @staticmethod
    def dest_id(identifiers: list[dict[str, Any]]) -> str:
        parts = []
        for ident in identifiers:
            for k, v in ident.items():
                if k == "address":
                    parts.extend(f"address.{ak}={av}" for ak, av in sorted(v.items()))
                else:
                    parts.append(f"{k}={v}")
        return ";".join(parts)

    @staticmethod
    def from_dest_id(dest_id: str | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        address: dict[str, str] = {}
        for part in (dest_id or "").split(";"):
            k, _, v = part.partition("=")
            if not v:
                continue
            if k.startswith("address."):
                address[k[len("address.") :]] = v
            else:
                out.append({k: v})
        if address:
            out.append({"address": address})
        return out

    def _request(self, validate_only: bool = False) -> dict[str, Any]:
        o = self.options
        dest: dict[str, Any] = {
            "operatingAccount": {"accountType": o.account_type, "accountId": o.account_id},
            "productDestinationId": o.user_list_id,
        }
        if o.login_account_id:
            dest["loginAccount"] = {
                "accountType": o.login_account_type,
                "accountId": o.login_account_id,
            }
        body: dict[str, Any] = {"destinations": [dest], "encoding": "HEX"}
        if validate_only:
            body["validateOnly"] = True
        return body

    def _send(
        self,
        transport: Transport,
        verb: str,
        items: list[tuple[Record, dict[str, Any]]],
        validate_only: bool = False,
    ) -> dict[str, RowResult]:
        """Send members; a 400 that names members rejects those and re-sends the others."""
        out: dict[str, RowResult] = {}
        while items:
            body = self._request(validate_only)
            body["audienceMembers"] = [m for _, m in items]
            if verb == "ingest" and self.options.terms_of_service_accepted:
                body["termsOfService"] = {"customerMatchTermsOfServiceStatus": "ACCEPTED"}
            resp = transport.request(
                "POST", f"/v1/audienceMembers:{verb}", json_body=body, expect=(400,)
            )
            if resp.status_code == 400:
                err = google_error(resp)
                bad: dict[int, str] = {}
                for d in err.get("details") or []:
                    for v in (d or {}).get("fieldViolations") or []:
                        m = _MEMBER_INDEX.search(str(v.get("field") or ""))
                        if m and int(m.group(1)) < len(items):
                            bad[int(m.group(1))] = redact(
                                f"{v.get('field')}: {v.get('description')}"
                            )
                if not bad:
                    self.check_response(resp)
                for i, msg in bad.items():
                    out[items[i][0].key] = RowResult(items[i][0].key, Outcome.REJECTED, error=msg)
                items = [it for i, it in enumerate(items) if i not in bad]
                continue
            rid = str(json_body(resp).get("requestId") or "")
            if rid:
                self.request_ids.append(rid)
                log.info(
                    "Data Manager %s%s: %d members, requestId %s",
                    verb,
                    " (validateOnly)" if validate_only else "",
                    len(items),
                    rid,
                )
            for r, m in items:
                dest_id = self.dest_id(m["userData"]["userIdentifiers"])
                out[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=dest_id)
            break
        return out

    def _prepare_members(
        self, records: list[Record]
    ) -> tuple[dict[str, RowResult], list[tuple[Record, dict[str, Any]]]]:
        results: dict[str, RowResult] = {}
        items = []
        for r in records:
            idents, why = self.identifiers(r.fields)
            if why:
                results[r.key] = RowResult(r.key, Outcome.REJECTED, error=why)
            else:
                items.append((r, self.member(r.fields, idents)))
        return results, items

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        results, items = self._prepare_members(records)
        stale = [
            (r, {"userData": {"userIdentifiers": self.from_dest_id(r.dest_id)}})
            for r, m in items
            if r.dest_id and r.dest_id != self.dest_id(m["userData"]["userIdentifiers"])
        ]
        results.update(self._send(transport, "ingest", items))
        if stale:
            self._send(transport, "remove", stale)
        return [results[r.key] for r in records]

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        items = [
            (r, {"userData": {"userIdentifiers": self.from_dest_id(r.dest_id)}})
            for r in records
            if self.from_dest_id(r.dest_id)
        ]
        results = self._send(transport, "remove", items)
        return [
            RowResult(r.key, results[r.key].outcome, error=results[r.key].error)
            if r.key in results
            else RowResult(r.key, Outcome.ACKED)
            for r in records
        ]

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        # Ingest and remove are set operations with no read-back: re-send the batch.
        return [RowResult(r.key, Outcome.NOT_APPLIED) for r in records]

    def post_sync(self, engine: Any, run_id: str) -> dict[str, int]:
        """Record this run's ``requestId``s in ``reverse_etl.google_dm_requests`` (Google's
        diagnostics endpoint takes them to report per-request processing status)."""
        if not self.request_ids:
            return {}
        wh = engine.wh
        wh.execute(
            f"CREATE TABLE IF NOT EXISTS {T_REQUESTS} (sync_name VARCHAR NOT NULL, "
            "run_id VARCHAR NOT NULL, request_id VARCHAR NOT NULL, recorded_at TIMESTAMP NOT NULL)"
        )
        from reverse_etl.state import now

        wh.insert_rows(
            T_REQUESTS,
            ("sync_name", "run_id", "request_id", "recorded_at"),
            [(self.sync.name, run_id, rid, now()) for rid in self.request_ids],
        )
        n = len(self.request_ids)
        self.request_ids = []
        return {"request_ids": n}

    def validate(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """``validateOnly`` ingest of ``records`` (for ``--dry-run``): Google checks the
        request and applies nothing."""
        results, items = self._prepare_members(records)
        results.update(self._send(transport, "ingest", items, validate_only=True))
        return [results[r.key] for r in records]
