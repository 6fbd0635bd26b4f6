"""A stateful Marketo Engage emulator: identity (OAuth client credentials), Sync Leads, lead
reads, static lists and their membership, following docs/contracts/marketo.md §12.

Reproduces: tokens that live ``token_seconds`` and are handed out again with their remaining
lifetime until they expire (600 missing / 601 invalid / 602 expired); every REST answer HTTP
200 with ``success`` and ``errors`` in the body except 413 / 414 and injected gateway faults
(HTML bodies); Sync Leads ``createOrUpdate`` / ``createOnly`` / ``updateOnly`` /
``createDuplicate`` with per-record ``created`` / ``updated`` / ``skipped`` + reason codes in
input order; lead reads by filter; static lists (Lead Database reads, Asset API create with
unique names, byName) and membership add / remove / ismember by lead id; lead deletion; the
limits (sliding 100 calls / 20 s -> 606, 10 in flight -> 615, a daily quota that resets at
midnight US Central time -> 607) when switched on.

Choices where the API is silent (docs/contracts/marketo.md §12): more than 300 records or ids
-> response-level 1003; 606 / 607 / 615 answers count toward the daily quota but not toward the
20-second window (a refused call never ran); identity calls are neither counted nor limited.

Tests read what the emulator applied from :attr:`MarketoEmulator.acks` and every REST call it
answered from :attr:`MarketoEmulator.calls` (the request log).
"""

from __future__ import annotations

import collections
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from audiences_emulators.base import Emulator, Fault, Request, Response

try:
    from zoneinfo import ZoneInfo

    CENTRAL: Any = ZoneInfo("America/Chicago")
except Exception:  # no time zone database: US Central standard time
    CENTRAL = UTC

SANDBOX_CLIENT_ID = "marketo-sandbox-client"
SANDBOX_CLIENT_SECRET = "marketo-sandbox-not-a-secret"
DEFAULT_PORT = 8769

# Standard lead fields (REST name -> data type) a sync may write; system fields are read-only.
STANDARD_FIELDS = {
    "email": "email",
    "firstName": "string",
    "lastName": "string",
    "middleName": "string",
    "title": "string",
    "company": "string",
    "phone": "phone",
    "mobilePhone": "phone",
    "address": "text",
    "city": "string",
    "state": "string",
    "country": "string",
    "postalCode": "string",
    "website": "url",
    "dateOfBirth": "date",
    "unsubscribed": "boolean",
    "leadSource": "string",
}
READ_ONLY = {"id", "createdAt", "updatedAt"}
KEY_TYPES = {"string", "email", "integer"}  # custom fields usable as lookup / filter field
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})$")
MAX_BODY = 1_000_000
MAX_URI = 8_000
ACTIONS = {"createOrUpdate", "createOnly", "updateOnly", "createDuplicate"}
# codes whose answers do not count toward the limits (contract §9)
NOT_COUNTED = {"600", "601", "602", "604", "605", "608", "611"}


def sandbox_env(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment that points the Marketo destination at a sandbox emulator."""
    return {
        "MARKETO_BASE_URL": f"http://{host}:{port}",
        "MARKETO_CLIENT_ID": SANDBOX_CLIENT_ID,
        "MARKETO_CLIENT_SECRET": SANDBOX_CLIENT_SECRET,
    }


def _request_id() -> str:
    return f"{uuid.uuid4().hex[:4]}#{uuid.uuid4().hex[:11]}"


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(result: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requestId": _request_id(), "success": True}
    if result is not None:
        body["result"] = result
    body.update(extra)
    return body


def failure(code: str, message: str) -> dict[str, Any]:
    """A response-level error: HTTP 200, ``success: false``, the code as a quoted integer."""
    return {
        "requestId": _request_id(),
        "success": False,
        "errors": [{"code": str(code), "message": message}],
    }


def reason(code: str, message: str) -> dict[str, Any]:
    return {"code": str(code), "message": message}


@dataclass
class MarketoConfig:
    client_id: str = SANDBOX_CLIENT_ID
    #: client secrets the identity endpoint accepts (a secret removed here also stops the
    #: access tokens issued for it: the custom service was revoked)
    tokens: set[str] = field(default_factory=lambda: {SANDBOX_CLIENT_SECRET})
    token_seconds: float = 3600.0
    calls_per_window: int | None = 100  # None = no rate limit
    window_seconds: float = 20.0
    concurrent: int | None = 10  # calls in flight; None = no limit
    daily: int | None = 50_000  # calls per day (reset at midnight America/Chicago)
    batch_limit: int = 300
    #: custom lead fields: REST name -> data type (string, text, email, integer, float,
    #: currency, boolean, date, datetime, url, phone)
    custom_fields: dict[str, str] = field(default_factory=dict)
    accept_any_field: bool = False  # unknown fields are accepted as strings
    #: folders the Asset API knows (id -> type); None accepts any folder
    folders: dict[int, str] | None = None
    latency: float = 0.0  # seconds added to every counted REST call


@dataclass
class Ack:
    """One input the emulator applied and acknowledged."""

    kind: str  # created | updated | list_add | list_remove | deleted
    key: str  # the email for lead writes, the lead id for list changes and deletions
    fields: dict[str, Any] = field(default_factory=dict)
    list_id: str | None = None
    changed: bool = True  # list ops: did membership change


@dataclass(frozen=True)
class Call:
    """One REST call the emulator answered (the request log)."""

    method: str
    path: str
    code: str | None  # response-level error code, None on success
    request_id: str
    query_token: bool = False  # the token came in the (withdrawn) access_token parameter


class MarketoEmulator(Emulator):
    name = "marketo"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: MarketoConfig | None = None):
        super().__init__(host, port)
        self.config = config or MarketoConfig()
        self._init_state()
        r = self.add_route
        r("GET", "/identity/oauth/token", self._token)
        r("POST", "/identity/oauth/token", self._token)
        r("POST", "/rest/v1/leads.json", self._sync_leads)
        r("GET", "/rest/v1/leads.json", self._get_leads)
        r("GET", "/rest/v1/leads/describe.json", self._describe)
        r("GET", "/rest/v1/leads/describe2.json", self._describe2)
        r("POST", "/rest/v1/leads/delete.json", self._delete_leads)
        r("GET", "/rest/v1/lists.json", self._get_lists)
        lst = '/rest/v1/lists/<re("\\d+"):id>'
        r("GET", lst + ".json", self._get_list)
        r("POST", lst + "/leads.json", self._members_add)
        r("DELETE", lst + "/leads.json", self._members_remove)
        r("GET", lst + "/leads.json", self._members_get)
        r("GET", lst + "/leads/ismember.json", self._is_member)
        r("POST", "/rest/asset/v1/staticLists.json", self._create_list)
        r("GET", "/rest/asset/v1/staticList/byName.json", self._list_by_name)

    def _init_state(self) -> None:
        self.leads: dict[int, dict[str, Any]] = {}
        self.by_email: dict[str, list[int]] = collections.defaultdict(list)
        self.lists: dict[int, dict[str, Any]] = {}
        self.acks: list[Ack] = []
        self.calls: list[Call] = []
        self.issued: dict[str, tuple[str, float]] = {}  # access token -> (secret, expiry)
        self._current: dict[str, str] = {}  # client secret -> its live access token
        self._next_lead = 1001
        self._next_list = 1001
        self._window: collections.deque[float] = collections.deque()
        self._in_flight = 0
        self._flight_lock = threading.Lock()
        self._day: str | None = None
        self.daily_calls = 0
        self.throttled = 0  # 606 and 615 answers
        self.quota_refusals = 0  # 607 answers
        self.token_requests = 0
        self.query_token_uses = 0

    # --- helpers for tests -------------------------------------------------------------
    def lead_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            ids = self.by_email.get(email.strip().lower()) or []
            return dict(self.leads[ids[0]]) if ids else None

    def list_named(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((v for v in self.lists.values() if v["name"] == name), None)

    def list_members(self, name: str) -> list[dict[str, Any]]:
        """The leads (all their fields) in static list ``name``."""
        with self.lock:
            lst = self.list_named(name)
            if lst is None:
                return []
            return [dict(self.leads[i]) for i in sorted(lst["members"]) if i in self.leads]

    def expire_tokens(self) -> None:
        """Make every issued access token expire now (the next call answers 602)."""
        with self.lock:
            self.issued = {t: (s, 0.0) for t, (s, _) in self.issued.items()}
            self._current.clear()

    def forget_tokens(self) -> None:
        """Forget every issued access token (the next call with one answers 601)."""
        with self.lock:
            self.issued.clear()
            self._current.clear()

    def summary(self) -> dict[str, Any]:
        return {
            "leads": len(self.leads),
            "lists": len(self.lists),
            "throttled": self.throttled,
            "quota_refusals": self.quota_refusals,
            "daily_calls": self.daily_calls,
            "token_requests": self.token_requests,
            "acks": len(self.acks),
            "calls": len(self.calls),
        }

    # --- faults: gateway errors look like nginx's -------------------------------------------
    def fault_response(self, req: Request, fault: Fault) -> Response:
        status = int(fault.status or 500)
        if fault.body is not None or status < 500:
            return super().fault_response(req, fault)
        headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
        html = f"<html><head><title>{status}</title></head><body><h1>{status}</h1></body></html>"
        return Response(status, html, headers, content_type="text/html")

    # --- auth, limits ------------------------------------------------------------------
    @staticmethod
    def _params(req: Request) -> dict[str, list[str]]:
        """Query string + form body (as Marketo reads them)."""
        out = {k: list(v) for k, v in req.query.items()}
        if req.raw and "x-www-form-urlencoded" in req.headers.get("content-type", ""):
            for k, v in parse_qs(req.raw.decode("utf-8", "replace")).items():
                out.setdefault(k, []).extend(v)
        return out

    def _day_key(self) -> str:
        return datetime.now(CENTRAL).strftime("%Y-%m-%d")

    def _log(self, req: Request, code: str | None, query_token: bool = False) -> str:
        rid = _request_id()
        self.calls.append(Call(req.method, req.path, code, rid, query_token))
        return rid

    def _refuse(self, req: Request, code: str, message: str, query_token: bool = False) -> Response:
        with self.lock:
            self._log(req, code, query_token)
            if code not in NOT_COUNTED:
                self._count_day()
        return Response(200, failure(code, message))

    def _count_day(self) -> None:
        day = self._day_key()
        if day != self._day:
            self._day, self.daily_calls = day, 0
        self.daily_calls += 1

    def before(self, req: Request) -> Response | None:
        if req.path.startswith("/identity/"):
            return None  # identity calls are neither counted nor limited
        if len(req.path) + len(json.dumps(req.query)) > MAX_URI:
            return Response(
                414, "<html><body>414 Request-URI Too Large</body></html>", {}, "text/html"
            )
        if len(req.raw) > MAX_BODY:
            return Response(
                413, "<html><body>413 Request Entity Too Large</body></html>", {}, "text/html"
            )
        auth = req.headers.get("authorization", "")
        query_token = "access_token" in req.query
        token = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else None
        if token is None and query_token:
            token = req.query["access_token"][-1]
            with self.lock:
                self.query_token_uses += 1
        if not token:
            return self._refuse(req, "600", "Access token not specified", query_token)
        cfg = self.config
        with self.lock:
            issued = self.issued.get(token)
            if issued is None or issued[0] not in cfg.tokens:
                return self._refuse(req, "601", "Access token invalid", query_token)
            if time.monotonic() >= issued[1]:
                return self._refuse(req, "602", "Access token expired", query_token)
            day = self._day_key()
            if day != self._day:
                self._day, self.daily_calls = day, 0
            if cfg.daily is not None and self.daily_calls >= cfg.daily:
                self.quota_refusals += 1
                return self._refuse(req, "607", "Daily quota reached", query_token)
            now = time.monotonic()
            while self._window and self._window[0] <= now - cfg.window_seconds:
                self._window.popleft()
            if cfg.calls_per_window is not None and len(self._window) >= cfg.calls_per_window:
                self.throttled += 1
                return self._refuse(
                    req,
                    "606",
                    f"Max rate limit '{cfg.calls_per_window}' exceeded with in "
                    f"'{cfg.window_seconds:g}' secs",
                    query_token,
                )
        with self._flight_lock:
            if cfg.concurrent is not None and self._in_flight >= cfg.concurrent:
                with self.lock:
                    self.throttled += 1
                return self._refuse(req, "615", "Concurrent access limit reached", query_token)
            self._in_flight += 1
        req.headers["x-emulator-counted"] = "1"
        req.headers["x-emulator-query-token"] = "1" if query_token else ""
        with self.lock:
            self._window.append(time.monotonic())
            self._count_day()
        if cfg.latency:
            time.sleep(cfg.latency)
        return None

    def after(self, req: Request, resp: Response) -> None:
        if not req.headers.get("x-emulator-counted"):
            return
        with self._flight_lock:
            self._in_flight -= 1
        body = resp.body if isinstance(resp.body, dict) else {}
        errors = body.get("errors") or []
        code = str(errors[0].get("code")) if errors and not body.get("success", True) else None
        with self.lock:
            rid = self._log(req, code, bool(req.headers.get("x-emulator-query-token")))
        if body.get("requestId"):
            body["requestId"] = rid

    # --- identity ------------------------------------------------------------------------
    def _token(self, req: Request, args: dict[str, str]) -> Response:
        p = {k: v[-1] for k, v in self._params(req).items()}
        self.token_requests += 1
        if p.get("grant_type") != "client_credentials":
            return Response(
                400,
                {"error": "unsupported_grant_type", "error_description": "Unsupported grant type"},
            )
        secret = p.get("client_secret", "")
        if p.get("client_id") != self.config.client_id or secret not in self.config.tokens:
            return Response(
                401, {"error": "invalid_client", "error_description": "Bad client credentials"}
            )
        now = time.monotonic()
        token = self._current.get(secret)
        if token is None or self.issued[token][1] <= now:
            token = f"{uuid.uuid4()}:ab"
            self.issued[token] = (secret, now + self.config.token_seconds)
            self._current[secret] = token
        # whole seconds left, counted as Marketo does: a fresh token answers 3599
        remaining = max(0, math.floor(self.issued[token][1] - now - 1e-6))
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": remaining,
                "scope": "apis@audiences.example",
            },
        )

    # --- fields --------------------------------------------------------------------------
    def _field_type(self, name: str) -> str | None:
        if name in STANDARD_FIELDS:
            return STANDARD_FIELDS[name]
        if name in self.config.custom_fields:
            return self.config.custom_fields[name]
        return "string" if self.config.accept_any_field else None

    def _check_value(self, name: str, kind: str, value: Any) -> dict[str, Any] | None:
        """The reason a value is refused (1001), or None."""
        if value is None or value == "":
            return None
        text = str(value)
        bad = reason("1001", f"Invalid value '{text}'. Required of type '{kind}'")
        if kind == "email":
            return bad if not (text.isascii() and EMAIL_RE.match(text)) else None
        if kind in ("string", "phone", "url") and len(text) > 255:
            return bad
        if kind == "integer":
            return None if re.fullmatch(r"-?\d+", text) else bad
        if kind in ("float", "currency"):
            try:
                float(text)
            except ValueError:
                return bad
        if kind == "boolean" and text.lower() not in ("true", "false", "1", "0"):
            return bad
        if kind == "date" and not DATE_RE.match(text):
            return bad
        if kind == "datetime" and not DATETIME_RE.match(text):
            return bad
        return None

    def _lookup_ids(self, lookup: str, value: Any) -> list[int]:
        if lookup == "email":
            return list(self.by_email.get(str(value).strip().lower(), []))
        if lookup == "id":
            return [int(value)] if str(value).isdigit() and int(value) in self.leads else []
        return [i for i, lead in self.leads.items() if str(lead.get(lookup)) == str(value)]

    # --- Sync Leads --------------------------------------------------------------------
    def _sync_leads(self, req: Request, args: dict[str, str]) -> Response:
        params = self._params(req)
        if params.get("_method") == ["GET"]:
            return self._get_leads(req, args)
        if "application/json" not in req.headers.get("content-type", ""):
            return Response(200, failure("612", "Invalid Content Type"))
        body = req.body
        if not isinstance(body, dict):
            return Response(200, failure("609", "Invalid JSON"))
        action = body.get("action", "createOrUpdate")
        if action not in ACTIONS:
            return Response(200, failure("1003", f"Invalid action '{action}'"))
        lookup = body.get("lookupField", "email")
        kind = self._field_type(lookup)
        if lookup != "id" and kind is None:
            return Response(200, failure("1006", f"Field '{lookup}' not found"))
        if lookup != "id" and (
            (lookup in STANDARD_FIELDS and lookup != "email") or kind not in KEY_TYPES
        ):
            return Response(200, failure("1011", f"Field '{lookup}' not supported"))
        inputs = body.get("input")
        if not isinstance(inputs, list) or not inputs:
            return Response(200, failure("701", "'input' cannot be blank"))
        if len(inputs) > self.config.batch_limit:
            return Response(
                200,
                failure("1003", f"Batch size {len(inputs)} exceeds {self.config.batch_limit}"),
            )
        results = [self._sync_one(action, lookup, rec) for rec in inputs]
        return Response(200, envelope(results))

    def _sync_one(self, action: str, lookup: str, rec: Any) -> dict[str, Any]:
        if not isinstance(rec, dict):
            return {"status": "skipped", "reasons": [reason("1003", "Invalid data")]}
        for name, value in rec.items():
            if name == "id" and action == "updateOnly":
                continue
            if name in READ_ONLY:
                return {"status": "skipped", "reasons": [reason("1003", "Invalid data")]}
            kind = self._field_type(name)
            if kind is None:
                return {
                    "status": "skipped",
                    "reasons": [reason("1006", f"Field '{name}' not found")],
                }
            bad = self._check_value(name, kind, value)
            if bad is not None:
                return {"status": "skipped", "reasons": [bad]}
        key = rec.get(lookup)
        if key is None or key == "":
            return {
                "status": "skipped",
                "reasons": [reason("1003", f"Value for '{lookup}' required")],
            }
        found = self._lookup_ids(lookup, key)
        if len(found) > 1 and action != "createDuplicate":
            return {
                "status": "skipped",
                "reasons": [reason("1007", "Multiple leads match the lookup criteria")],
            }
        fields = {k: v for k, v in rec.items() if k != "id"}
        if found and action in ("createOrUpdate", "updateOnly"):
            lead = self.leads[found[0]]
            self._apply(lead, fields)
            self.acks.append(Ack("updated", str(lead.get("email") or lead["id"]).lower(), fields))
            return {"id": lead["id"], "status": "updated"}
        if found and action == "createOnly":
            return {"status": "skipped", "reasons": [reason("1005", "Lead already exists")]}
        if not found and action == "updateOnly":
            return {"status": "skipped", "reasons": [reason("1004", "Lead not found")]}
        lid = self._next_lead
        self._next_lead += 1
        ts = _now_iso()
        lead = {"id": lid, "createdAt": ts, "updatedAt": ts}
        self.leads[lid] = lead
        self._apply(lead, fields)
        self.acks.append(Ack("created", str(lead.get("email") or lid).lower(), fields))
        return {"id": lid, "status": "created"}

    def _apply(self, lead: dict[str, Any], fields: dict[str, Any]) -> None:
        old = str(lead.get("email") or "").lower()
        for k, v in fields.items():
            lead[k] = None if v == "" else v
        new = str(lead.get("email") or "").lower()
        if old != new:
            if old and lead["id"] in self.by_email.get(old, []):
                self.by_email[old].remove(lead["id"])
            if new:
                self.by_email[new].append(lead["id"])
        lead["updatedAt"] = _now_iso()

    # --- reading leads -----------------------------------------------------------------
    def _view(self, lead: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        return {"id": lead["id"], **{f: lead.get(f) for f in fields if f != "id"}}

    def _get_leads(self, req: Request, args: dict[str, str]) -> Response:
        p = self._params(req)
        ftype = (p.get("filterType") or [""])[-1]
        values = [v for v in ",".join(p.get("filterValues") or []).split(",") if v != ""]
        if not ftype or not values:
            return Response(200, failure("1003", "filterType and filterValues are required"))
        if len(values) > self.config.batch_limit:
            return Response(200, failure("1003", "Too many filter values"))
        if ftype != "id" and (self._field_type(ftype) not in KEY_TYPES):
            return Response(200, failure("1003", f"Invalid filterType '{ftype}'"))
        wanted = [f for f in ",".join(p.get("fields") or []).split(",") if f] or [
            "email",
            "firstName",
            "lastName",
            "updatedAt",
            "createdAt",
        ]
        out = []
        for v in values:
            for lid in self._lookup_ids(ftype, v):
                out.append(self._view(self.leads[lid], wanted))
        return Response(200, envelope(out))

    def _describe(self, req: Request, args: dict[str, str]) -> Response:
        fields = {**STANDARD_FIELDS, **self.config.custom_fields}
        result = [
            {
                "id": i,
                "displayName": name,
                "dataType": kind,
                "rest": {"name": name, "readOnly": False},
            }
            for i, (name, kind) in enumerate(fields.items(), start=1)
        ]
        return Response(200, envelope(result))

    def _describe2(self, req: Request, args: dict[str, str]) -> Response:
        fields = {**STANDARD_FIELDS, **self.config.custom_fields}
        keys = [[n] for n, k in self.config.custom_fields.items() if k in KEY_TYPES]
        return Response(
            200,
            envelope(
                [
                    {
                        "name": "API Lead",
                        "searchableFields": [["email"], ["id"], *keys],
                        "fields": [
                            {"name": n, "displayName": n, "dataType": k, "updateable": True}
                            for n, k in fields.items()
                        ],
                    }
                ]
            ),
        )

    def _ids(self, req: Request) -> list[str] | None:
        """Lead ids from ``?id=`` or a JSON ``{"input": [{"id": ..}]}`` body."""
        ids = list(self._params(req).get("id") or [])
        if isinstance(req.body, dict) and isinstance(req.body.get("input"), list):
            ids += [str(i.get("id")) for i in req.body["input"] if isinstance(i, dict)]
        return ids

    def _delete_leads(self, req: Request, args: dict[str, str]) -> Response:
        ids = self._ids(req) or []
        if not ids:
            return Response(200, failure("701", "'id' cannot be blank"))
        if len(ids) > self.config.batch_limit:
            return Response(200, failure("1003", "Too many ids"))
        out = []
        for raw in ids:
            lid = int(raw) if raw.isdigit() else -1
            lead = self.leads.pop(lid, None)
            if lead is None:
                out.append(
                    {"id": lid, "status": "skipped", "reasons": [reason("1004", "Lead not found")]}
                )
                continue
            email = str(lead.get("email") or "").lower()
            if email and lid in self.by_email.get(email, []):
                self.by_email[email].remove(lid)
            for lst in self.lists.values():
                lst["members"].discard(lid)
            self.acks.append(Ack("deleted", str(lid)))
            out.append({"id": lid, "status": "deleted"})
        return Response(200, envelope(out))

    # --- static lists ------------------------------------------------------------------
    @staticmethod
    def _list_view(lst: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in lst.items() if k not in ("members", "folder", "computedUrl")}

    def _get_lists(self, req: Request, args: dict[str, str]) -> Response:
        p = self._params(req)
        names = {n for v in p.get("name") or [] for n in v.split(",")}
        ids = {i for v in p.get("id") or [] for i in v.split(",")}
        out = [
            self._list_view(lst)
            for lst in self.lists.values()
            if (not names or lst["name"] in names) and (not ids or str(lst["id"]) in ids)
        ]
        return Response(200, envelope(out))

    def _list(self, args: dict[str, str]) -> dict[str, Any] | None:
        return self.lists.get(int(args["id"]))

    def _get_list(self, req: Request, args: dict[str, str]) -> Response:
        lst = self._list(args)
        if lst is None:
            return Response(200, failure("1013", "Object not found"))
        return Response(200, envelope([self._list_view(lst)]))

    def _create_list(self, req: Request, args: dict[str, str]) -> Response:
        p = {k: v[-1] for k, v in self._params(req).items()}
        name, folder_raw = p.get("name"), p.get("folder")
        if not name:
            return Response(200, failure("701", "'name' cannot be blank"))
        if not folder_raw:
            return Response(200, failure("701", "'folder' cannot be blank"))
        try:
            folder = json.loads(folder_raw)
            folder_id, folder_type = int(folder["id"]), str(folder["type"])
        except (ValueError, KeyError, TypeError):
            return Response(200, failure("1003", f"Invalid folder '{folder_raw}'"))
        if folder_type not in ("Folder", "Program"):
            return Response(200, failure("711", "Incompatible folder type"))
        known = self.config.folders
        if known is not None:
            if folder_id not in known:
                return Response(200, failure("710", "Parent folder not found"))
            if known[folder_id] != folder_type:
                return Response(200, failure("711", "Incompatible folder type"))
        if any(lst["name"] == name for lst in self.lists.values()):
            return Response(200, failure("709", "Static List with the same name already exists"))
        lid = self._next_list
        self._next_list += 1
        ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ+0000")
        self.lists[lid] = {
            "id": lid,
            "name": name,
            "description": p.get("description", ""),
            "createdAt": ts,
            "updatedAt": ts,
            "folder": {"id": folder_id, "type": folder_type},
            "computedUrl": f"https://app-emulator.marketo.com/#ST{lid}A1",
            "members": set(),
        }
        return Response(200, self._asset_envelope([self._asset_view(self.lists[lid])]))

    @staticmethod
    def _asset_view(lst: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in lst.items() if k != "members"}

    @staticmethod
    def _asset_envelope(result: list[Any] | None, warnings: list[str] | None = None) -> dict:
        body: dict[str, Any] = {
            "success": True,
            "errors": [],
            "requestId": _request_id(),
            "warnings": warnings or [],
        }
        if result is not None:
            body["result"] = result
        return body

    def _list_by_name(self, req: Request, args: dict[str, str]) -> Response:
        name = (self._params(req).get("name") or [""])[-1]
        for lst in self.lists.values():
            if lst["name"] == name:
                return Response(200, self._asset_envelope([self._asset_view(lst)]))
        return Response(
            200, self._asset_envelope(None, ["No assets found for the given search criteria."])
        )

    def _membership(self, req: Request, args: dict[str, str], add: bool) -> Response:
        lst = self._list(args)
        if lst is None:
            return Response(200, failure("1013", "Object not found"))
        ids = self._ids(req) or []
        if not ids:
            return Response(200, failure("701", "'id' cannot be blank"))
        if len(ids) > self.config.batch_limit:
            return Response(200, failure("1003", "Too many ids"))
        out = []
        for raw in ids:
            lid = int(raw) if str(raw).isdigit() else -1
            if lid not in self.leads:
                out.append(
                    {"id": lid, "status": "skipped", "reasons": [reason("1004", "Lead not found")]}
                )
                continue
            if add:
                changed = lid not in lst["members"]
                lst["members"].add(lid)
                self.acks.append(Ack("list_add", str(lid), list_id=str(lst["id"]), changed=changed))
                out.append({"id": lid, "status": "added"})
            elif lid in lst["members"]:
                lst["members"].discard(lid)
                self.acks.append(Ack("list_remove", str(lid), list_id=str(lst["id"])))
                out.append({"id": lid, "status": "removed"})
            else:
                out.append(
                    {
                        "id": lid,
                        "status": "skipped",
                        "reasons": [reason("1015", "Lead not in list")],
                    }
                )
        return Response(200, envelope(out))

    def _members_add(self, req: Request, args: dict[str, str]) -> Response:
        return self._membership(req, args, add=True)

    def _members_remove(self, req: Request, args: dict[str, str]) -> Response:
        return self._membership(req, args, add=False)

    def _members_get(self, req: Request, args: dict[str, str]) -> Response:
        lst = self._list(args)
        if lst is None:
            return Response(200, failure("1013", "Object not found"))
        p = self._params(req)
        size = min(self.config.batch_limit, int((p.get("batchSize") or ["300"])[-1]))
        start = int((p.get("nextPageToken") or ["0"])[-1] or 0)
        fields = [f for f in ",".join(p.get("fields") or []).split(",") if f] or [
            "email",
            "firstName",
            "lastName",
        ]
        members = sorted(i for i in lst["members"] if i in self.leads)
        page = members[start : start + size]
        extra: dict[str, Any] = {}
        if start + size < len(members):
            extra = {"nextPageToken": str(start + size), "moreResult": True}
        return Response(200, envelope([self._view(self.leads[i], fields) for i in page], **extra))

    def _is_member(self, req: Request, args: dict[str, str]) -> Response:
        lst = self._list(args)
        if lst is None:
            return Response(200, failure("1013", "Object not found"))
        ids = self._ids(req) or []
        if len(ids) > self.config.batch_limit:
            return Response(200, failure("1003", "Too many ids"))
        out = []
        for raw in ids:
            lid = int(raw) if str(raw).isdigit() else -1
            if lid not in self.leads:
                out.append(
                    {"id": lid, "status": "skipped", "reasons": [reason("1004", "Lead not found")]}
                )
            else:
                out.append(
                    {"id": lid, "status": "memberof" if lid in lst["members"] else "notmemberof"}
                )
        return Response(200, envelope(out))


def main(argv: list[str] | None = None) -> int:
    """``python -m audiences_emulators.marketo --port 8769`` (sandbox and benchmarks)."""
    import argparse
    import contextlib

    ap = argparse.ArgumentParser(prog="python -m audiences_emulators.marketo")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--client-id", default=SANDBOX_CLIENT_ID)
    ap.add_argument(
        "--client-secret", action="append", help=f"accepted client secret ({SANDBOX_CLIENT_SECRET})"
    )
    ap.add_argument("--rate", type=int, default=100, help="calls per window; 0 = no limit")
    ap.add_argument("--window", type=float, default=20.0, help="rate window in seconds")
    ap.add_argument("--concurrent", type=int, default=10, help="calls in flight; 0 = no limit")
    ap.add_argument("--daily", type=int, default=50_000, help="calls per day; 0 = no quota")
    ap.add_argument("--field", action="append", default=[], help="custom field NAME[:TYPE]")
    ap.add_argument("--any-field", action="store_true", help="accept every field name")
    args = ap.parse_args(argv)
    custom = {}
    for spec in args.field:
        name, _, kind = spec.partition(":")
        custom[name] = kind or "string"
    cfg = MarketoConfig(
        client_id=args.client_id,
        tokens=set(args.client_secret or [SANDBOX_CLIENT_SECRET]),
        calls_per_window=args.rate or None,
        window_seconds=args.window,
        concurrent=args.concurrent or None,
        daily=args.daily or None,
        custom_fields=custom,
        accept_any_field=args.any_field,
    )
    emu = MarketoEmulator(args.host, args.port, cfg)
    print(f"marketo emulator on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
