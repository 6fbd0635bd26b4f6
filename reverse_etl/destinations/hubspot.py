"""HubSpot: contacts upserted by email (CRM v3 batch upsert), plus membership of one static
(MANUAL) list per sync. Segment membership travels as a multi-checkbox property mapped like
any other field (``audiences_segments``: keys joined with ';').

Mirror removals take the contact out of the sync's list and clear the properties listed in
``options.clear_on_removal``; contacts are never deleted.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import quote

import requests
from pydantic import BaseModel, ConfigDict

from reverse_etl import settings
from reverse_etl.core.errors import BatchRejectedError, CredentialsError, DestinationError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import (
    ErrorInfo,
    ResponseClassifier,
    retry_after_header,
)
from reverse_etl.http.classify import json_body as _body
from reverse_etl.settings import redact

DEFAULT_BASE_URL = "https://api.hubapi.com"
TOKEN_ENV = "HUBSPOT_ACCESS_TOKEN"
BASE_URL_ENV = "HUBSPOT_BASE_URL"
CONTACTS = "0-1"

# Published limits for private apps (destination-apis.md 1.4). One place to update them.
BATCH_SIZE = 100
WINDOW_SECONDS = 10.0
TIER_BURST = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190, "api_pack": 250}
TIER_DAILY = {
    "free": 250_000,
    "starter": 250_000,
    "professional": 650_000,
    "enterprise": 1_000_000,
    "api_pack": 2_000_000,
}
MEMBERSHIP_PAGE = 250


class HubSpotOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tier: Literal["free", "starter", "professional", "enterprise", "api_pack"] = "free"
    clear_on_removal: list[str] = []
    #: the portal (Hub ID) the token belongs to: part of the account the state is bound to
    portal_id: str | None = None


def _read_error(resp: requests.Response) -> ErrorInfo:
    body = _body(resp)
    message = str(body.get("message") or resp.reason or "")
    policy = str(body.get("policyName") or "")  # on 429: which limit (…DAILY: the day's quota)
    label = policy or str(body.get("category") or "")
    return ErrorInfo(
        detail=f"{label}: {message}" if label else message,
        retry_after=retry_after_header(resp),
        quota="DAIL" in policy.upper(),
    )


CLASSIFIER = ResponseClassifier(
    product="HubSpot",
    credentials_hint=f"check that {TOKEN_ENV} holds a valid private app token with the "
    "contacts and lists scopes",
    read_error=_read_error,
    quota_hint="the daily API limit of the HubSpot account is used up; the sync resumes where "
    "it stopped on the next run after the reset",
    auth_statuses=(401, 403),
)


def _error_text(err: dict[str, Any]) -> str:
    parts = [
        str(err.get("category") or err.get("status") or "error")
        + ": "
        + str(err.get("message") or "")
    ]
    for sub in err.get("errors") or []:
        if isinstance(sub, dict):
            code = f" ({sub['code']})" if sub.get("code") else ""
            parts.append(f"{sub.get('message', '')}{code}")
    return redact("; ".join(p.strip() for p in parts if p.strip()))


class HubSpotDestination:
    name = "hubspot"
    key_normalization = "lower_trim"

    def __init__(self, sync: SyncConfig, options: HubSpotOptions):
        self.sync = sync
        self.options = options
        self.limits = limits_for(sync, BATCH_SIZE, TIER_BURST[options.tier], WINDOW_SECONDS)
        self.list_id: str | None = None

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> HubSpotDestination:
        return cls(sync, parse_options(HubSpotOptions, sync))

    def account_key(self) -> str:
        base = account_url(settings.value(BASE_URL_ENV) or DEFAULT_BASE_URL)
        return f"{base} portal={self.options.portal_id or '-'}"

    # --- HTTP -----------------------------------------------------------------------------
    def http_config(self) -> tuple[str, dict[str, str]]:
        token = reveal(settings.secret(TOKEN_ENV))
        if not token:
            raise CredentialsError(
                f"{TOKEN_ENV} is not set: create a HubSpot private app with the "
                "crm.objects.contacts.read/write and crm.lists.read/write scopes and export its "
                f"access token as {TOKEN_ENV}"
            )
        base = settings.value(BASE_URL_ENV) or DEFAULT_BASE_URL
        return base, {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def check_response(self, resp: requests.Response) -> None:
        CLASSIFIER.check(resp)

    # --- list ---------------------------------------------------------------------------
    def prepare(self, transport: Transport) -> None:
        if not self.sync.list:
            return
        resp = transport.request(
            "GET",
            f"/crm/v3/lists/object-type-id/{CONTACTS}/name/{quote(self.sync.list, safe='')}",
            expect=(404,),
        )
        if resp.status_code == 404:
            resp = transport.request(
                "POST",
                "/crm/v3/lists",
                json_body={
                    "name": self.sync.list,
                    "objectTypeId": CONTACTS,
                    "processingType": "MANUAL",
                },
            )
        lst = _body(resp).get("list") or {}
        if lst.get("processingType") not in ("MANUAL", "SNAPSHOT"):
            raise DestinationError(
                f"HubSpot list {self.sync.list!r} is {lst.get('processingType')}: "
                "membership can only "
                "be written to static (MANUAL) lists; rename the list in syncs.yml or in HubSpot"
            )
        self.list_id = str(lst["listId"])

    def _members(self, transport: Transport, ids: set[str]) -> set[str]:
        """Which of ``ids`` are in the list (pages until all found or the list ends)."""
        found: set[str] = set()
        after: str | None = None
        while ids - found:
            params: dict[str, Any] = {"limit": MEMBERSHIP_PAGE}
            if after:
                params["after"] = after
            page = _body(
                transport.request("GET", f"/crm/v3/lists/{self.list_id}/memberships", params=params)
            )
            for item in page.get("results") or []:
                rid = str(item.get("recordId"))
                if rid in ids:
                    found.add(rid)
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                break
        return found

    def _list_change(self, transport: Transport, op: str, ids: list[str]) -> set[str]:
        """Add or remove ``ids``; return the ids HubSpot reported missing."""
        if not ids or not self.list_id:
            return set()
        try:
            resp = transport.request(
                "PUT", f"/crm/v3/lists/{self.list_id}/memberships/{op}", json_body=ids
            )
        except BatchRejectedError as exc:
            # Not a bad-row problem: splitting would re-send contacts already acknowledged.
            raise DestinationError(f"list membership {op} refused: {exc}") from None
        body = _body(resp)
        return {str(i) for i in body.get("recordIdsMissing") or []}

    # --- upserts ------------------------------------------------------------------------
    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        inputs = [
            {
                "idProperty": "email",
                "id": r.key,
                "objectWriteTraceId": str(i),
                "properties": r.fields,
            }
            for i, r in enumerate(records)
        ]
        body = _body(
            transport.request(
                "POST", "/crm/v3/objects/contacts/batch/upsert", json_body={"inputs": inputs}
            )
        )
        ids: dict[str, str] = {}
        for res in body.get("results") or []:
            mail = str((res.get("properties") or {}).get("email") or "").lower()
            if mail and res.get("id") is not None:
                ids[mail] = str(res["id"])
        errors: dict[int, str] = {}
        for err in body.get("errors") or []:
            for trace in (err.get("context") or {}).get("objectWriteTraceId") or []:
                if str(trace).isdigit():
                    errors[int(trace)] = _error_text(err)
        results: dict[str, RowResult] = {}
        to_list: list[str] = []
        for i, r in enumerate(records):
            if i in errors:
                results[r.key] = RowResult(r.key, Outcome.REJECTED, error=errors[i])
            elif r.key in ids:
                dest_id = ids[r.key]
                results[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=dest_id)
                if self.list_id and (r.action == "add" or dest_id != r.dest_id):
                    to_list.append(r.key)
            else:
                results[r.key] = RowResult(
                    r.key,
                    Outcome.REJECTED,
                    error="HubSpot did not confirm this contact in its answer",
                )
        missing = self._list_change(transport, "add", [ids[k] for k in to_list])
        for k in to_list:
            if ids[k] in missing:
                results[k] = RowResult(
                    k,
                    Outcome.REJECTED,
                    error=f"contact {ids[k]} was missing when adding it to the list",
                )
        return [results[r.key] for r in records]

    # --- removals -----------------------------------------------------------------------
    def _clear(self, transport: Transport, records: list[Record]) -> None:
        if not self.options.clear_on_removal:
            return
        props = dict.fromkeys(self.options.clear_on_removal, "")
        inputs = [
            {"id": r.dest_id, "objectWriteTraceId": str(i), "properties": props}
            for i, r in enumerate(records)
            if r.dest_id
        ]
        if inputs:
            # Contacts deleted in HubSpot meanwhile come back as per-row errors: nothing to clear.
            transport.request(
                "POST", "/crm/v3/objects/contacts/batch/update", json_body={"inputs": inputs}
            )

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        # Order matters for crash recovery: list first, then the property clear (see reconcile).
        self._list_change(transport, "remove", [r.dest_id for r in records if r.dest_id])
        self._clear(transport, records)
        return [RowResult(r.key, Outcome.ACKED, dest_id=r.dest_id) for r in records]

    # --- crash recovery -----------------------------------------------------------------
    def _read(
        self, transport: Transport, id_property: str | None, ids: list[str], props: list[str]
    ) -> dict[str, dict[str, Any]]:
        body: dict[str, Any] = {"inputs": [{"id": i} for i in ids], "properties": props}
        if id_property:
            body["idProperty"] = id_property
        data = _body(
            transport.request("POST", "/crm/v3/objects/contacts/batch/read", json_body=body)
        )
        out = {}
        for res in data.get("results") or []:
            p = res.get("properties") or {}
            key = (
                str(p.get("email") or "").lower() if id_property == "email" else str(res.get("id"))
            )
            out[key] = {"id": str(res.get("id")), "properties": p}
        return out

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        results: dict[str, RowResult] = {}
        ups = [r for r in records if r.action != "remove"]
        rems = [r for r in records if r.action == "remove"]
        if ups:
            fields = sorted({f for r in ups for f in r.fields} | {"email"})
            seen = self._read(transport, "email", [r.key for r in ups], fields)
            need_list: dict[str, Record] = {}
            for r in ups:
                got = seen.get(r.key)
                applied = got is not None and all(
                    str(got["properties"].get(f) or "") == v for f, v in r.fields.items()
                )
                if got is None or not applied:
                    results[r.key] = RowResult(r.key, Outcome.NOT_APPLIED)
                    continue
                dest_id = got["id"]
                results[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=dest_id)
                if self.list_id and (r.action == "add" or dest_id != r.dest_id):
                    need_list[dest_id] = r
            if need_list:
                members = self._members(transport, set(need_list))
                todo = [i for i in need_list if i not in members]
                missing = self._list_change(transport, "add", todo)
                for i in missing:
                    r = need_list[i]
                    results[r.key] = RowResult(r.key, Outcome.NOT_APPLIED)
        if rems:
            ids = {r.dest_id for r in rems if r.dest_id}
            members = self._members(transport, ids) if self.list_id else set()
            done = [r for r in rems if r.dest_id not in members]
            for r in rems:
                if r.dest_id in members:
                    results[r.key] = RowResult(r.key, Outcome.NOT_APPLIED)
            if done and self.options.clear_on_removal:
                cur = self._read(
                    transport,
                    None,
                    [r.dest_id for r in done if r.dest_id],
                    self.options.clear_on_removal,
                )
                pending = [
                    r
                    for r in done
                    if r.dest_id in cur
                    and any(
                        cur[r.dest_id]["properties"].get(p) for p in self.options.clear_on_removal
                    )
                ]
                self._clear(transport, pending)
            for r in done:
                results[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=r.dest_id)
        return [results[r.key] for r in records]


SPEC = DestinationSpec(
    name="hubspot",
    options=HubSpotOptions,
    secret_env=(TOKEN_ENV,),
    env=(BASE_URL_ENV,),
    build=HubSpotDestination.from_sync,
    mirror_needs_list=True,
)
