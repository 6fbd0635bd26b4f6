"""Marketo Engage: leads upserted by email (Sync Leads ``createOrUpdate``, up to 300 per call)
and membership of one static list per sync (created in ``options.list_folder_id`` if missing).

Marketo answers almost everything with HTTP 200 and says in the body whether the call worked
(``success``, ``errors[].code``) and, per record, what happened (``created`` / ``updated`` /
``skipped`` with reason codes, in input order). The access token comes from the identity
endpoint (OAuth client credentials), is cached and renewed shortly before it expires and
whenever the API answers 601 / 602. The limits (100 calls per 20 s, 10 in flight, a daily quota)
answer 606 / 615 (throttling: retried with back-off) and 607 (quota: the run stops and the next
one resumes). Contract: docs/contracts/marketo.md.

Mirror removals take the lead out of the sync's list only; leads are never deleted.
"""

from __future__ import annotations

import json
import time
from typing import Any, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field

from reverse_etl import settings
from reverse_etl.core.errors import (
    CredentialsError,
    DestinationError,
    TokenExpiredError,
)
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import ErrorInfo, ResponseClassifier, retry_after_header
from reverse_etl.http.classify import json_body as _body
from reverse_etl.settings import redact

BASE_URL_ENV = "MARKETO_BASE_URL"
CLIENT_ID_ENV = "MARKETO_CLIENT_ID"
CLIENT_SECRET_ENV = "MARKETO_CLIENT_SECRET"

# Published limits (contract §9). One place to update them.
BATCH_SIZE = 300
CALLS_PER_WINDOW = 100
WINDOW_SECONDS = 20.0
TOKEN_PATH = "/identity/oauth/token"
LEADS_PATH = "/rest/v1/leads.json"
REFRESH_MARGIN_SECONDS = 60.0  # renew a token this long before Marketo says it expires
URL_BUDGET = 6_000  # characters of query string per lead read (Marketo refuses URIs > 8 KB)

TOKEN_CODES = {"600", "601", "602"}  # missing / invalid / expired access token
THROTTLE_CODES = {"606", "615"}  # rate limit / concurrency limit
QUOTA_CODE = "607"
# request timed out, temporarily unavailable, system error, invalid subscription (usually
# temporary), transient error: retried with back-off
TRANSIENT_CODES = {"604", "608", "611", "614", "713"}


class MarketoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    #: the folder (or program) where the sync's static list is created when it is missing
    list_folder_id: int | None = None
    list_folder_type: Literal["Folder", "Program"] = "Folder"
    batch_size: int = Field(default=BATCH_SIZE, ge=1, le=BATCH_SIZE)


def _message(body: dict[str, Any], fallback: str) -> str:
    """The words of a Marketo error body: ``errors[]`` (REST), ``error_description``
    (identity) or ``message`` / ``error`` (gateways, anything else)."""
    errors = body.get("errors") or []
    if errors and isinstance(errors[0], dict):
        return "; ".join(f"{e.get('code')} {e.get('message', '')}".strip() for e in errors)
    error = body.get("error")
    if isinstance(error, dict):
        return str(error.get("message") or fallback)
    return str(body.get("message") or body.get("error_description") or error or fallback)


def _read_error(resp: requests.Response) -> ErrorInfo:
    return ErrorInfo(
        detail=_message(_body(resp), resp.reason or ""), retry_after=retry_after_header(resp)
    )


def _read_envelope(resp: requests.Response) -> ErrorInfo | None:
    """What an HTTP 200 answer with ``success: false`` says (contract §10): Marketo puts the
    error in the body, with codes for the token, the limits and the temporary failures."""
    body = _body(resp)
    if body.get("success") is not False:
        return None
    codes = {str(e.get("code")) for e in body.get("errors") or [] if isinstance(e, dict)}
    hint = None
    if "603" in codes:
        hint = (
            f"give the API-only user of {CLIENT_ID_ENV} a role with Read-Write Lead and "
            "Read-Write Assets, and check the instance's IP allowlist"
        )
    elif "610" in codes:
        hint = f"check {BASE_URL_ENV} (the instance's REST host)"
    return ErrorInfo(
        detail=_message(body, "success: false"),
        token_expired=bool(codes & TOKEN_CODES),
        quota=QUOTA_CODE in codes,
        throttled=bool(codes & THROTTLE_CODES),
        transient=bool(codes & TRANSIENT_CODES),
        fatal_hint=hint,
    )


CLASSIFIER = ResponseClassifier(
    product="Marketo",
    credentials_hint=f"check that {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} belong to an active "
    "custom service (Admin > LaunchPoint) of this instance",
    read_error=_read_error,
    read_envelope=_read_envelope,
    quota_hint="the daily API quota of the Marketo instance is used up; the sync resumes where "
    "it stopped on the next run after the quota resets at midnight US Central time",
    batch_statuses=(413,),  # a body over 1 MB: split the batch
)


def _reasons(result: dict[str, Any]) -> str:
    reasons = result.get("reasons") or []
    text = "; ".join(f"{r.get('message', '')} ({r.get('code')})" for r in reasons)
    return redact(f"Marketo skipped this lead: {text or result.get('status', 'no reason given')}")


class MarketoDestination:
    name = "marketo"
    key_normalization = "lower_trim"

    def __init__(self, sync: SyncConfig, options: MarketoOptions):
        self.sync = sync
        self.options = options
        self.limits = limits_for(sync, options.batch_size, CALLS_PER_WINDOW, WINDOW_SECONDS)
        self.list_id: int | None = None
        self._token: str | None = None
        self._token_expires = 0.0

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> MarketoDestination:
        return cls(sync, parse_options(MarketoOptions, sync))

    def account_key(self) -> str:
        """The instance: its REST host (one per Munchkin id)."""
        return account_url(settings.value(BASE_URL_ENV) or "")

    # --- HTTP -----------------------------------------------------------------------------
    @staticmethod
    def _missing(name: str, what: str) -> CredentialsError:
        return CredentialsError(
            f"{name} is not set: {what} (Marketo Admin > Integration > Web Services and "
            "LaunchPoint: a custom service owned by an API-only user with the Read-Write Lead "
            "and Read-Write Assets permissions)"
        )

    def _credentials(self) -> tuple[str, str]:
        client_id = settings.value(CLIENT_ID_ENV)
        if not client_id:
            raise self._missing(CLIENT_ID_ENV, "export the client id of the custom service")
        client_secret = reveal(settings.secret(CLIENT_SECRET_ENV))
        if not client_secret:
            raise self._missing(CLIENT_SECRET_ENV, "export the client secret of the custom service")
        return client_id, client_secret

    def http_config(self) -> tuple[str, dict[str, str]]:
        base = settings.value(BASE_URL_ENV)
        if not base:
            raise self._missing(
                BASE_URL_ENV, "export the REST host, e.g. https://123-ABC-456.mktorest.com"
            )
        self._credentials()
        return base.rstrip("/").removesuffix("/rest"), {"Content-Type": "application/json"}

    def check_response(self, resp: requests.Response) -> None:
        CLASSIFIER.check(resp)

    # --- token ----------------------------------------------------------------------------
    def _auth_header(self, transport: Transport) -> dict[str, str]:
        """A valid access token (renewed before it expires), as the header of one call: the
        token changes during a run, so it is not one of http_config()'s fixed headers."""
        if not self._token or time.monotonic() >= self._token_expires:
            self._new_token(transport)
        return {"Authorization": f"Bearer {self._token}"}

    def _new_token(self, transport: Transport) -> None:
        client_id, client_secret = self._credentials()
        resp = transport.request(
            "GET",
            TOKEN_PATH,
            params={
                "grant_type": "client_credentials",
                "client_id": client_id,
                "client_secret": client_secret,
            },
        )
        body = _body(resp)
        token = body.get("access_token")
        if not token:
            raise DestinationError(
                redact(f"Marketo identity answered without an access token ({_message(body, '')})")
            )
        lifetime = float(body.get("expires_in") or 0)
        self._token = str(token)
        # Renew before it runs out. Asked early, Marketo hands back the same token with its
        # remaining lifetime, so the margin shrinks with it (at most a few early asks per
        # token); a token that expires anyway is renewed on 602 (see _call).
        margin = min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        self._token_expires = time.monotonic() + lifetime - margin

    def _call(
        self,
        transport: Transport,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Any = None,
    ) -> dict[str, Any]:
        """One REST call with a valid token (renewed once on 600/601/602); the body."""
        for attempt in (1, 2):
            auth = self._auth_header(transport)
            try:
                resp = transport.request(
                    method, path, json_body=json_body, params=params, headers=auth
                )
            except TokenExpiredError:
                self._token = None
                if attempt == 2:
                    raise
                continue
            return _body(resp)
        raise AssertionError("unreachable")

    # --- list ---------------------------------------------------------------------------
    def prepare(self, transport: Transport) -> None:
        """Find the sync's static list by its exact name (Asset API), or create it."""
        if not self.sync.list:
            return
        found = self._call(
            transport,
            "GET",
            "/rest/asset/v1/staticList/byName.json",
            params={"name": self.sync.list},
        )
        for lst in found.get("result") or []:
            if lst.get("name") == self.sync.list:
                self.list_id = int(lst["id"])
                return
        if self.options.list_folder_id is None:
            raise DestinationError(
                f"Marketo has no static list named {self.sync.list!r}: create it, or set "
                "options.list_folder_id (and list_folder_type: Folder or Program) in syncs.yml "
                "so the sync creates it"
            )
        folder = {"id": self.options.list_folder_id, "type": self.options.list_folder_type}
        created = self._call(
            transport,
            "POST",
            "/rest/asset/v1/staticLists.json",
            params={"name": self.sync.list, "folder": json.dumps(folder)},
        )
        result = created.get("result") or []
        if not result or "id" not in result[0]:
            raise DestinationError(
                f"Marketo did not return the static list {self.sync.list!r} it was asked to "
                f"create (requestId {created.get('requestId')})"
            )
        self.list_id = int(result[0]["id"])

    def _members(self, transport: Transport, op: str, lead_ids: list[int]) -> dict[int, str]:
        """Add or remove (``op``: POST / DELETE) leads; the status Marketo gives each."""
        if not lead_ids or self.list_id is None:
            return {}
        body = self._call(
            transport,
            op,
            f"/rest/v1/lists/{self.list_id}/leads.json",
            json_body={"input": [{"id": i} for i in lead_ids]},
        )
        return {int(r["id"]): str(r.get("status")) for r in body.get("result") or [] if "id" in r}

    def _is_member(self, transport: Transport, lead_ids: list[int]) -> set[int]:
        if not lead_ids or self.list_id is None:
            return set()
        body = self._call(
            transport,
            "GET",
            f"/rest/v1/lists/{self.list_id}/leads/ismember.json",
            params={"id": lead_ids},
        )
        return {int(r["id"]) for r in body.get("result") or [] if r.get("status") == "memberof"}

    # --- upserts ------------------------------------------------------------------------
    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        body = self._call(
            transport,
            "POST",
            LEADS_PATH,
            json_body={
                "action": "createOrUpdate",
                "lookupField": "email",
                "input": [{**r.fields, "email": r.key} for r in records],
            },
        )
        answers = body.get("result") or []
        if len(answers) != len(records):
            raise DestinationError(
                f"Marketo answered {len(answers)} results for {len(records)} leads"
            )
        results: list[RowResult] = []
        to_list: list[tuple[int, int]] = []  # (position, lead id)
        for pos, (rec, res) in enumerate(zip(records, answers, strict=True)):
            if res.get("status") in ("created", "updated") and res.get("id") is not None:
                lead_id = int(res["id"])
                results.append(RowResult(rec.key, Outcome.ACKED, dest_id=str(lead_id)))
                if rec.action == "add" or str(lead_id) != rec.dest_id:
                    to_list.append((pos, lead_id))
            else:
                results.append(RowResult(rec.key, Outcome.REJECTED, error=_reasons(res)))
        added = self._members(transport, "POST", [i for _, i in to_list])
        for pos, lead_id in to_list:
            if self.list_id is not None and added.get(lead_id) != "added":
                results[pos] = RowResult(
                    records[pos].key,
                    Outcome.REJECTED,
                    error=f"lead {lead_id} was not added to the list ({added.get(lead_id)})",
                )
        return results

    # --- removals -----------------------------------------------------------------------
    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Out of our list only: 'removed', or skipped because it is no longer a member (1015)
        or no longer exists (1004) all mean the lead is not in the list."""
        ids = [int(r.dest_id) for r in records if r.dest_id and r.dest_id.isdigit()]
        self._members(transport, "DELETE", ids)
        return [RowResult(r.key, Outcome.ACKED, dest_id=r.dest_id) for r in records]

    # --- crash recovery -----------------------------------------------------------------
    def _read_leads(self, transport: Transport, records: list[Record]) -> dict[str, dict]:
        """The leads of ``records`` by email, with the fields the sync writes (read in chunks
        that keep the URL under Marketo's 8 KB)."""
        fields = ",".join(sorted({f for r in records for f in r.fields} | {"email"}))
        seen: dict[str, dict] = {}
        chunk: list[str] = []
        size = 0
        keys = [r.key for r in records]
        for i, key in enumerate(keys):
            chunk.append(key)
            size += len(key) * 3 + 3  # (percent-encoded, with its comma)
            if i + 1 < len(keys) and size + len(fields) < URL_BUDGET:
                continue
            body = self._call(
                transport,
                "GET",
                LEADS_PATH,
                params={"filterType": "email", "filterValues": ",".join(chunk), "fields": fields},
            )
            for lead in body.get("result") or []:
                seen[str(lead.get("email") or "").lower()] = lead
            chunk, size = [], 0
        return seen

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        results: dict[str, RowResult] = {}
        ups = [r for r in records if r.action != "remove"]
        rems = [r for r in records if r.action == "remove"]
        if ups:
            seen = self._read_leads(transport, ups)
            need_list: dict[int, Record] = {}
            for r in ups:
                lead = seen.get(r.key)
                if lead is None or not all(
                    ("" if lead.get(f) is None else str(lead.get(f))) == v
                    for f, v in r.fields.items()
                    if f != "email"
                ):
                    results[r.key] = RowResult(r.key, Outcome.NOT_APPLIED)
                    continue
                lead_id = int(lead["id"])
                results[r.key] = RowResult(r.key, Outcome.ACKED, dest_id=str(lead_id))
                if self.list_id is not None and (r.action == "add" or str(lead_id) != r.dest_id):
                    need_list[lead_id] = r
            members = self._is_member(transport, list(need_list))
            added = self._members(transport, "POST", [i for i in need_list if i not in members])
            for lead_id, status in added.items():
                if status != "added" and lead_id in need_list:
                    key = need_list[lead_id].key
                    results[key] = RowResult(key, Outcome.NOT_APPLIED)
        if rems:
            ids = [int(r.dest_id) for r in rems if r.dest_id and r.dest_id.isdigit()]
            still = self._is_member(transport, ids)
            for r in rems:
                done = not (r.dest_id and r.dest_id.isdigit() and int(r.dest_id) in still)
                results[r.key] = RowResult(
                    r.key, Outcome.ACKED if done else Outcome.NOT_APPLIED, dest_id=r.dest_id
                )
        return [results[r.key] for r in records]


SPEC = DestinationSpec(
    name="marketo",
    options=MarketoOptions,
    secret_env=(CLIENT_SECRET_ENV,),
    env=(BASE_URL_ENV, CLIENT_ID_ENV),
    build=MarketoDestination.from_sync,
    mirror_needs_list=True,
)
