"""A stateful HubSpot emulator (contacts + static lists) following destination-apis.md §1/§5.

Reproduces: Bearer auth (401), both path styles (``/crm/v3`` and ``/crm/{objects,lists}/2026-03``),
the rolling ten-second limit per token (429 ``TEN_SECONDLY_ROLLING``) and the daily cap (429
``DAILY``) with the ``X-HubSpot-RateLimit-*`` headers on every response, 100 inputs per batch
(400), per-input failures as 207 multi-status (invalid email, unknown or read-only property,
duplicate id in one batch) or, in ``reject_mode="whole_batch"``, as a 400 for the whole batch,
409 on create of an existing email, list creation / lookup / membership with
``recordsIdsAdded`` / ``recordIdsMissing``, DYNAMIC lists refusing manual membership.

Tests read what the emulator acknowledged from :attr:`HubSpotEmulator.acks`.
"""

from __future__ import annotations

import collections
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audiences_emulators.base import Emulator, Request, Response

SANDBOX_TOKEN = "sandbox-not-a-secret"
LIST_ID = '<re("\\d+"):id>'  # a numeric list id in a route

STANDARD_PROPERTIES = {
    "email",
    "firstname",
    "lastname",
    "phone",
    "mobilephone",
    "country",
    "city",
    "state",
    "zip",
    "address",
    "company",
    "jobtitle",
    "website",
    "lifecyclestage",
    "hs_lead_status",
}
READ_ONLY = {"hs_object_id", "createdate", "lastmodifieddate", "hs_createdate"}
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _now_iso() -> str:
    return (
        datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{datetime.now(UTC).microsecond // 1000:03d}Z"
    )


@dataclass
class HubSpotConfig:
    tokens: set[str] = field(default_factory=lambda: {SANDBOX_TOKEN})
    burst: int | None = 100  # requests per window per token; None = unlimited
    window_seconds: float = 10.0
    daily: int | None = 250_000
    batch_limit: int = 100
    retry_after: bool = False  # send Retry-After on 429 (unconfirmed upstream, off by default)
    reject_mode: str = "multi_status"  # or "whole_batch"
    custom_properties: set[str] = field(default_factory=set)
    accept_any_property: bool = False
    latency: float = 0.0  # seconds added to every API call


@dataclass
class Ack:
    """One input the emulator applied and acknowledged."""

    kind: str  # upsert | create | update | list_add | list_remove
    key: str  # email for contact writes, record id for list changes
    properties: dict[str, str] = field(default_factory=dict)
    list_id: str | None = None
    changed: bool = True  # for list ops: was membership actually changed


class HubSpotEmulator(Emulator):
    name = "hubspot"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: HubSpotConfig | None = None):
        super().__init__(host, port)
        self.config = config or HubSpotConfig()
        self._init_state()
        r = self.add_route
        c = "/crm/v3/objects/contacts"
        r("POST", c + "/batch/upsert", self._upsert)
        r("POST", c + "/batch/create", self._create)
        r("POST", c + "/batch/update", self._update)
        r("POST", c + "/batch/read", self._read)
        r("GET", c + "/<id>", self._get_contact)
        r("POST", "/crm/v3/lists", self._create_list)
        r("POST", "/crm/v3/lists/", self._create_list)
        r("GET", "/crm/v3/lists/object-type-id/<ot>/name/<path:name>", self._list_by_name)
        r("GET", "/crm/v3/lists/" + LIST_ID, self._get_list)
        r("PUT", "/crm/v3/lists/" + LIST_ID + "/memberships/add", self._members_add)
        r("PUT", "/crm/v3/lists/" + LIST_ID + "/memberships/remove", self._members_remove)
        r(
            "PUT",
            "/crm/v3/lists/" + LIST_ID + "/memberships/add-and-remove",
            self._members_add_remove,
        )
        r("GET", "/crm/v3/lists/" + LIST_ID + "/memberships", self._members_get)
        r("GET", "/account-info/v3/api-usage/daily/private-apps", self._usage)

    def _init_state(self) -> None:
        self.contacts: dict[str, dict[str, Any]] = {}
        self.by_email: dict[str, str] = {}
        self.lists: dict[str, dict[str, Any]] = {}
        self.acks: list[Ack] = []
        self._next_contact = 1001
        self._next_list = 1
        self._windows: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self._daily: dict[str, int] = collections.defaultdict(int)
        self.throttled = 0
        self.api_calls = 0
        self.calls_by_path: collections.Counter[str] = collections.Counter()

    # --- helpers for tests -------------------------------------------------------------
    def contact_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            cid = self.by_email.get(email.lower())
            return None if cid is None else self.contacts[cid]

    def list_members(self, name: str) -> set[str]:
        """Emails of the members of list ``name``."""
        with self.lock:
            for lst in self.lists.values():
                if lst["name"] == name:
                    return {
                        self.contacts[i]["properties"]["email"]
                        for i in lst["members"]
                        if i in self.contacts
                    }
        return set()

    def summary(self) -> dict[str, Any]:
        return {
            "contacts": len(self.contacts),
            "lists": len(self.lists),
            "throttled": self.throttled,
            "api_calls": self.api_calls,
            "acks": len(self.acks),
            "calls_by_path": dict(self.calls_by_path),
        }

    def normalize_path(self, path: str) -> str:
        path = path.replace("/crm/objects/2026-03/", "/crm/v3/objects/")
        if path.startswith("/crm/lists/2026-03"):
            path = "/crm/v3/lists" + path[len("/crm/lists/2026-03") :]
        return path

    # --- auth, limits, headers -----------------------------------------------------------
    def _token(self, req: Request) -> str | None:
        auth = req.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            tok = auth[len("Bearer ") :].strip()
            if tok in self.config.tokens:
                return tok
        return None

    @staticmethod
    def _err(status: int, message: str, category: str, **extra: Any) -> Response:
        return Response(
            status,
            {
                "status": "error",
                "message": message,
                "correlationId": str(uuid.uuid4()),
                "category": category,
                **extra,
            },
        )

    def before(self, req: Request) -> Response | None:
        tok = self._token(req)
        if tok is None:
            return self._err(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
        req.headers["x-emulator-token"] = tok
        cfg = self.config
        with self.lock:
            now = time.monotonic()
            win = self._windows[tok]
            while win and win[0] <= now - cfg.window_seconds:
                win.popleft()
            if cfg.daily is not None and self._daily[tok] >= cfg.daily:
                self.throttled += 1
                return self._err(
                    429,
                    "You have reached your daily limit.",
                    "RATE_LIMITS",
                    errorType="RATE_LIMIT",
                    policyName="DAILY",
                    requestId=str(uuid.uuid4()),
                )
            if cfg.burst is not None and len(win) >= cfg.burst:
                self.throttled += 1
                resp = self._err(
                    429,
                    "You have reached your ten_secondly_rolling limit.",
                    "RATE_LIMITS",
                    errorType="RATE_LIMIT",
                    policyName="TEN_SECONDLY_ROLLING",
                    requestId=str(uuid.uuid4()),
                )
                if cfg.retry_after:
                    resp.headers["Retry-After"] = str(
                        max(1, round(win[0] + cfg.window_seconds - now))
                    )
                return resp
            win.append(now)
            self._daily[tok] += 1
            self.api_calls += 1
            self.calls_by_path[req.method + " " + re.sub(r"/\d+", "/{id}", req.path)] += 1
        if cfg.latency:
            time.sleep(cfg.latency)
        return None

    def after(self, req: Request, resp: Response) -> None:
        tok = req.headers.get("x-emulator-token")
        if tok is None:
            return
        cfg = self.config
        with self.lock:
            used = len(self._windows[tok])
            h = resp.headers
            h["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(int(cfg.window_seconds * 1000))
            if cfg.burst is not None:
                h["X-HubSpot-RateLimit-Max"] = str(cfg.burst)
                h["X-HubSpot-RateLimit-Remaining"] = str(max(0, cfg.burst - used))
                h["X-HubSpot-RateLimit-Secondly"] = str(cfg.burst)
                h["X-HubSpot-RateLimit-Secondly-Remaining"] = str(max(0, cfg.burst - used))
            if cfg.daily is not None:
                h["X-HubSpot-RateLimit-Daily"] = str(cfg.daily)
                h["X-HubSpot-RateLimit-Daily-Remaining"] = str(max(0, cfg.daily - self._daily[tok]))

    # --- contacts ----------------------------------------------------------------------
    def _check_props(self, props: dict[str, Any]) -> list[dict[str, Any]]:
        errs = []
        for name, value in props.items():
            if name in READ_ONLY:
                errs.append(
                    {
                        "code": "READ_ONLY_VALUE",
                        "message": f"{name} is a read only property",
                        "in": name,
                    }
                )
            elif not (
                self.config.accept_any_property
                or name in STANDARD_PROPERTIES
                or name in self.config.custom_properties
            ):
                errs.append(
                    {
                        "code": "PROPERTY_DOESNT_EXIST",
                        "message": f'Property "{name}" does not exist',
                        "in": name,
                    }
                )
            elif name == "email" and value and not EMAIL_RE.match(str(value)):
                errs.append(
                    {
                        "code": "INVALID_EMAIL",
                        "message": f"Email address {value} is invalid",
                        "in": "email",
                    }
                )
        return errs

    def _batch_guard(self, req: Request) -> tuple[list[dict[str, Any]], Response | None]:
        body = req.body if isinstance(req.body, dict) else {}
        inputs = body.get("inputs")
        if not isinstance(inputs, list):
            return [], self._err(
                400, "Invalid input JSON: 'inputs' is required", "VALIDATION_ERROR"
            )
        if len(inputs) > self.config.batch_limit:
            return [], self._err(
                400,
                f"Batch input limit exceeded: {len(inputs)} inputs, "
                f"at most {self.config.batch_limit}",
                "VALIDATION_ERROR",
            )
        return inputs, None

    def _error_obj(
        self,
        inp: dict[str, Any],
        idx: int,
        category: str,
        message: str,
        sub: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        ctx = {"objectWriteTraceId": [str(inp.get("objectWriteTraceId", idx))]}
        if inp.get("id") is not None:
            ctx["ids"] = [str(inp["id"])]
        return {
            "status": "error",
            "category": category,
            "message": message,
            "context": ctx,
            "errors": sub or [],
            "id": str(uuid.uuid4()),
        }

    def _finish(
        self,
        results: list[dict[str, Any]],
        errors: list[dict[str, Any]],
        ok_status: int,
        started: str,
    ) -> Response:
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": started,
            "startedAt": started,
            "completedAt": _now_iso(),
        }
        if errors:
            if self.config.reject_mode == "whole_batch":
                return self._err(
                    400,
                    "; ".join(
                        e["message"] + ": " + "; ".join(s["message"] for s in e["errors"])
                        for e in errors
                    ),
                    "VALIDATION_ERROR",
                )
            body["numErrors"] = len(errors)
            body["errors"] = errors
            return Response(207, body)
        return Response(ok_status, body)

    def _contact_view(
        self, cid: str, props: list[str] | None = None, new: bool | None = None
    ) -> dict[str, Any]:
        c = self.contacts[cid]
        p = c["properties"]
        shown = dict(p) if props is None else {k: p.get(k) for k in props}
        shown.setdefault("hs_object_id", cid)
        view = {
            "id": cid,
            "properties": shown,
            "createdAt": c["createdAt"],
            "updatedAt": c["updatedAt"],
            "archived": False,
        }
        if new is not None:
            view["new"] = new
        return view

    def _write(self, cid: str | None, email: str | None, props: dict[str, Any]) -> tuple[str, bool]:
        ts = _now_iso()
        new = cid is None
        if new:
            cid = str(self._next_contact)
            self._next_contact += 1
            self.contacts[cid] = {"id": cid, "properties": {}, "createdAt": ts, "updatedAt": ts}
        c = self.contacts[cid]
        for k, v in props.items():
            c["properties"][k] = "" if v is None else str(v)
        if email:
            c["properties"]["email"] = email
            self.by_email[email] = cid
        c["properties"]["hs_object_id"] = cid
        c["updatedAt"] = ts
        return cid, new

    def _upsert_like(self, req: Request, kind: str) -> Response:
        started = _now_iso()
        inputs, bad = self._batch_guard(req)
        if bad:
            return bad
        results, errors, valid = [], [], []
        seen: set[str] = set()
        for idx, inp in enumerate(inputs):
            id_prop = inp.get("idProperty")
            props = dict(inp.get("properties") or {})
            if kind == "upsert" and id_prop not in ("email", None, *self.config.custom_properties):
                return self._err(
                    400,
                    "Unable to perform update/upsert by non-unique 0-1 property",
                    "VALIDATION_ERROR",
                )
            if kind == "create":
                email = str(props.get("email") or "").strip().lower() or None
            elif kind == "upsert" or id_prop == "email":
                email = str(inp.get("id") or "").strip().lower() or None
            else:
                email = None
            sub = self._check_props(props)
            if email and not EMAIL_RE.match(email):
                sub.append(
                    {
                        "code": "INVALID_EMAIL",
                        "message": f"Email address {email} is invalid",
                        "in": "email",
                    }
                )
            dup_key = email or str(inp.get("id"))
            if dup_key in seen:
                errors.append(
                    self._error_obj(
                        inp,
                        idx,
                        "VALIDATION_ERROR",
                        "Duplicate IDs found in batch input",
                        [{"code": "DUPLICATE_ID", "message": f"{dup_key} appears twice"}],
                    )
                )
                continue
            seen.add(dup_key)
            if sub:
                errors.append(
                    self._error_obj(
                        inp, idx, "VALIDATION_ERROR", "Property values were not valid", sub
                    )
                )
                continue
            valid.append((idx, inp, email, props))
        if errors and self.config.reject_mode == "whole_batch":
            return self._finish([], errors, 200, started)
        for idx, inp, email, props in valid:
            if kind == "upsert":
                if not email:
                    errors.append(self._error_obj(inp, idx, "VALIDATION_ERROR", "id is required"))
                    continue
                cid, new = self._write(self.by_email.get(email), email, props)
                self.acks.append(Ack("upsert", email, {k: str(v) for k, v in props.items()}))
                results.append(self._contact_view(cid, None, new))
            elif kind == "create":
                if email and email in self.by_email:
                    return self._err(
                        409,
                        f"Contact already exists. Existing ID: {self.by_email[email]}",
                        "CONFLICT",
                    )
                cid, _ = self._write(None, email, props)
                self.acks.append(Ack("create", email or cid, {k: str(v) for k, v in props.items()}))
                results.append(self._contact_view(cid))
            else:  # update by id or email
                cid = self.by_email.get(email) if email else str(inp.get("id"))
                if not cid or cid not in self.contacts:
                    errors.append(
                        self._error_obj(
                            inp,
                            idx,
                            "OBJECT_NOT_FOUND",
                            "Object not found",
                            [
                                {
                                    "code": "OBJECT_NOT_FOUND",
                                    "message": f"Could not find contact {inp.get('id')}",
                                }
                            ],
                        )
                    )
                    continue
                self._write(cid, None, props)
                self.acks.append(
                    Ack(
                        "update",
                        self.contacts[cid]["properties"].get("email", cid),
                        {k: str(v) for k, v in props.items()},
                    )
                )
                results.append(self._contact_view(cid))
        return self._finish(results, errors, 201 if kind == "create" else 200, started)

    def _upsert(self, req: Request, args: dict[str, str]) -> Response:
        return self._upsert_like(req, "upsert")

    def _create(self, req: Request, args: dict[str, str]) -> Response:
        return self._upsert_like(req, "create")

    def _update(self, req: Request, args: dict[str, str]) -> Response:
        return self._upsert_like(req, "update")

    def _read(self, req: Request, args: dict[str, str]) -> Response:
        started = _now_iso()
        inputs, bad = self._batch_guard(req)
        if bad:
            return bad
        body = req.body or {}
        id_prop = body.get("idProperty")
        props = body.get("properties") or None
        results, errors = [], []
        for idx, inp in enumerate(inputs):
            key = str(inp.get("id") or "")
            cid = self.by_email.get(key.lower()) if id_prop == "email" else key
            if not cid or cid not in self.contacts:
                e = self._error_obj(
                    inp, idx, "OBJECT_NOT_FOUND", "Could not get some CONTACT objects"
                )
                errors.append(e)
                continue
            view = self._contact_view(cid, props)
            view["properties"].setdefault("email", self.contacts[cid]["properties"].get("email"))
            results.append(view)
        body_out = {
            "status": "COMPLETE",
            "results": results,
            "requestedAt": started,
            "startedAt": started,
            "completedAt": _now_iso(),
        }
        if errors:
            body_out["numErrors"] = len(errors)
            body_out["errors"] = errors
            return Response(207, body_out)
        return Response(200, body_out)

    def _get_contact(self, req: Request, args: dict[str, str]) -> Response:
        cid = args["id"]
        if cid not in self.contacts:
            return self._err(404, "Object not found", "OBJECT_NOT_FOUND")
        return Response(200, self._contact_view(cid))

    # --- lists -------------------------------------------------------------------------
    def _list_view(self, lst: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in lst.items() if k != "members"} | {"size": len(lst["members"])}

    def _create_list(self, req: Request, args: dict[str, str]) -> Response:
        b = req.body if isinstance(req.body, dict) else {}
        name = b.get("name")
        if not name or b.get("objectTypeId") is None or b.get("processingType") is None:
            return self._err(
                400, "name, objectTypeId and processingType are required", "VALIDATION_ERROR"
            )
        if any(lst["name"] == name for lst in self.lists.values()):
            return self._err(400, f"A list named {name} already exists", "VALIDATION_ERROR")
        lid = str(self._next_list)
        self._next_list += 1
        self.lists[lid] = {
            "listId": lid,
            "listVersion": 1,
            "name": name,
            "objectTypeId": b["objectTypeId"],
            "processingType": b["processingType"],
            "processingStatus": "COMPLETE",
            "createdAt": _now_iso(),
            "members": {},
        }
        return Response(200, {"list": self._list_view(self.lists[lid])})

    def _list_by_name(self, req: Request, args: dict[str, str]) -> Response:
        name = args["name"]  # (werkzeug decoded the path)
        for lst in self.lists.values():
            if lst["name"] == name and lst["objectTypeId"] == args["ot"]:
                return Response(200, {"list": self._list_view(lst)})
        return self._err(404, f"List with name {name} does not exist", "OBJECT_NOT_FOUND")

    def _get_list(self, req: Request, args: dict[str, str]) -> Response:
        lst = self.lists.get(args["id"])
        if lst is None:
            return self._err(404, "List not found", "OBJECT_NOT_FOUND")
        return Response(200, {"list": self._list_view(lst)})

    def _membership(self, lid: str, add: list[Any], remove: list[Any]) -> Response:
        lst = self.lists.get(lid)
        if lst is None:
            return self._err(404, f"List {lid} does not exist", "OBJECT_NOT_FOUND")
        if lst["processingType"] not in ("MANUAL", "SNAPSHOT"):
            return self._err(
                400,
                f"List {lid} is {lst['processingType']}; memberships cannot be changed manually",
                "VALIDATION_ERROR",
            )
        added, removed, missing = [], [], []
        ts = _now_iso()
        for rid in map(str, add):
            if rid not in self.contacts:
                missing.append(rid)
                continue
            changed = rid not in lst["members"]
            if changed:
                lst["members"][rid] = ts
                added.append(rid)
            self.acks.append(Ack("list_add", rid, list_id=lid, changed=changed))
        for rid in map(str, remove):
            if rid not in self.contacts:
                missing.append(rid)
                continue
            changed = rid in lst["members"]
            if changed:
                del lst["members"][rid]
                removed.append(rid)
            self.acks.append(Ack("list_remove", rid, list_id=lid, changed=changed))
        return Response(
            200,
            {"recordsIdsAdded": added, "recordIdsRemoved": removed, "recordIdsMissing": missing},
        )

    def _members_add(self, req: Request, args: dict[str, str]) -> Response:
        if not isinstance(req.body, list):
            return self._err(400, "Body must be a JSON array of record ids", "VALIDATION_ERROR")
        return self._membership(args["id"], req.body, [])

    def _members_remove(self, req: Request, args: dict[str, str]) -> Response:
        if not isinstance(req.body, list):
            return self._err(400, "Body must be a JSON array of record ids", "VALIDATION_ERROR")
        return self._membership(args["id"], [], req.body)

    def _members_add_remove(self, req: Request, args: dict[str, str]) -> Response:
        b = req.body if isinstance(req.body, dict) else {}
        return self._membership(
            args["id"], b.get("recordIdsToAdd") or [], b.get("recordIdsToRemove") or []
        )

    def _members_get(self, req: Request, args: dict[str, str]) -> Response:
        lst = self.lists.get(args["id"])
        if lst is None:
            return self._err(404, "List not found", "OBJECT_NOT_FOUND")
        limit = min(250, int((req.query.get("limit") or ["100"])[0]))
        after = int((req.query.get("after") or ["0"])[0] or 0)
        ids = list(lst["members"].items())
        page = ids[after : after + limit]
        body: dict[str, Any] = {
            "results": [{"recordId": rid, "membershipTimestamp": ts} for rid, ts in page],
            "total": len(ids),
        }
        if after + limit < len(ids):
            body["paging"] = {"next": {"after": str(after + limit)}}
        return Response(200, body)

    def _usage(self, req: Request, args: dict[str, str]) -> Response:
        tok = req.headers.get("x-emulator-token", "")
        return Response(
            200,
            [
                {
                    "name": "api-calls-daily",
                    "usageLimit": self.config.daily,
                    "currentUsage": self._daily[tok],
                    "collectedAt": _now_iso(),
                    "fetchStatus": "SUCCESS",
                }
            ],
        )


def serve(port: int, host: str = "127.0.0.1", **config: Any) -> None:
    emu = HubSpotEmulator(host, port, HubSpotConfig(**config))
    emu.serve_forever()
