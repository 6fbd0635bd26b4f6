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
  purposes, because the audience mart only holds people with ads consent (README: consent).
- ``validate`` sends a batch with ``validateOnly`` (used by ``--dry-run``); nothing is applied.
- 429 ``RESOURCE_EXHAUSTED`` is retried after Google's ``retryDelay``; every ``requestId`` is
  logged and kept in :attr:`GoogleDataManagerDestination.request_ids`.
- The hashed identifiers are kept as the destination id in the sync state, so removals send
  exactly what was ingested.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from reverse_etl import identifiers as ids
from reverse_etl import settings
from reverse_etl.core.errors import CredentialsError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.google_common import check_mapping, google_classifier, google_error
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import json_body
from reverse_etl.settings import redact

log = logging.getLogger("reverse_etl")

TOKEN_ENV = "GOOGLE_ACCESS_TOKEN"
URL_ENV = "GOOGLE_DATA_MANAGER_URL"
DEFAULT_URL = "https://datamanager.googleapis.com"
CLASSIFIER = google_classifier("Google Data Manager", TOKEN_ENV)

# Published limits (destination-apis.md 4.8). One place to update them.
MEMBER_LIMIT = 10_000
IDENTIFIER_LIMIT = 10
REQUESTS_PER_MINUTE = 300

#: a Customer Match list needs at least 100 members to serve (Google Ads / Data Manager)
MIN_AUDIENCE_SIZE = 100


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


#: what :meth:`GoogleDataManagerDestination.encode` gives per row: (member or None, problem,
#: destination id, malformed fields left out)
Encoded = tuple[dict[str, Any] | None, str | None, str, tuple[str, ...]]


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
        token = reveal(settings.secret(TOKEN_ENV))
        if not token:
            raise CredentialsError(
                f"{TOKEN_ENV} is not set: export an OAuth 2 access token with the "
                f"https://www.googleapis.com/auth/datamanager scope as {TOKEN_ENV}"
            )
        base = (settings.value(URL_ENV) or DEFAULT_URL).rstrip("/")
        return base, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def check_response(self, resp: requests.Response) -> None:
        CLASSIFIER.check(resp)

    def account_key(self) -> str:
        o = self.options
        return (
            f"{account_url(settings.value(URL_ENV) or DEFAULT_URL)} "
            f"{o.account_type}:{o.account_id} login={o.login_account_id or '-'}"
        )

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
        parts: list[str] = []
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
        known: dict[str, tuple[str, tuple[str, ...]]] | None = None,
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
            for r, member in items:
                pre = known.get(r.key) if known else None
                if pre is not None:  # (from the encoding: see encode)
                    dest_id, dropped = pre
                else:
                    idents = member["userData"]["userIdentifiers"]
                    dest_id = self.dest_id(idents)
                    dropped = (
                        ids.google_dropped(r.fields, idents, DM_IDENTIFIER_KEYS)
                        if verb == "ingest"
                        else ()
                    )
                out[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=dest_id, dropped=dropped)
            break
        return out

    def encode(self, rows: list[dict[str, str]]) -> list[Encoded]:
        """Per row of fields (capability ``Encoding``): the member as sent (None when it has
        no usable identifier), the problem, its destination id and the malformed fields left
        out, all computed where the encoding runs (a worker process), not by the engine's
        thread."""
        out: list[Encoded] = []
        for f in rows:
            idents, why = self.identifiers(f)
            if why:
                out.append((None, why, "", ()))
            else:
                dropped = ids.google_dropped(f, idents, DM_IDENTIFIER_KEYS)
                out.append((self.member(f, idents), None, self.dest_id(idents), dropped))
        return out

    def _prepare_members(
        self, records: list[Record], encoded: list[Encoded]
    ) -> tuple[
        dict[str, RowResult],
        list[tuple[Record, dict[str, Any]]],
        dict[str, tuple[str, tuple[str, ...]]],
    ]:
        results: dict[str, RowResult] = {}
        items = []
        known: dict[str, tuple[str, tuple[str, ...]]] = {}
        for r, (member, why, dest_id, dropped) in zip(records, encoded, strict=True):
            if why or member is None:
                results[r.key] = RowResult(r.key, Outcome.REJECTED, error=why)
            else:
                items.append((r, member))
                known[r.key] = (dest_id, dropped)
        return results, items, known

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return self.send_encoded(transport, records, self.encode([r.fields for r in records]))

    def send_encoded(
        self,
        transport: Transport,
        records: list[Record],
        encoded: list[Encoded],
    ) -> list[RowResult]:
        results, items, known = self._prepare_members(records, encoded)
        stale = [
            (r, {"userData": {"userIdentifiers": self.from_dest_id(r.dest_id)}})
            for r, _ in items
            if r.dest_id and r.dest_id != known[r.key][0]
        ]
        results.update(self._send(transport, "ingest", items, known=known))
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

    def drain_request_ids(self) -> list[str]:
        """The ``requestId``s Google returned since the last call (the engine records them in
        ``reverse_etl.google_dm_requests``: Google's diagnostics endpoint takes them)."""
        out, self.request_ids = self.request_ids, []
        return out

    def validate(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """``validateOnly`` ingest of ``records`` (for ``--dry-run``): Google checks the
        request and applies nothing."""
        encoded = self.encode([r.fields for r in records])
        results, items, known = self._prepare_members(records, encoded)
        results.update(self._send(transport, "ingest", items, validate_only=True, known=known))
        return [results[r.key] for r in records]


SPEC = DestinationSpec(
    name="google_data_manager",
    options=DataManagerOptions,
    secret_env=(TOKEN_ENV,),
    env=(URL_ENV,),
    build=GoogleDataManagerDestination.from_sync,
    min_audience_size=MIN_AUDIENCE_SIZE,
)
