"""A stateful Braze ``/users/track`` emulator following destination-apis.md §2 and §5.

Reproduces: Bearer REST API key (401; a key without ``users.track`` -> 401), the sliding
3-second window (default 3,000 requests -> 429) with ``x-ratelimit-limit/-remaining/-reset``
(reset = epoch seconds) on every response, the per-request object cap (75 in total, or 75 per
array, or 50; more -> 400 ``Max Input Length Exceeded``), per-object validation reported as
non-fatal ``errors`` (``input_array`` + ``index``) with 201 for the rest, or 400 when no object
is valid, strings capped at 255 characters, arrays capped at 500 (oldest dropped), attribute
types locked on first write (later mismatches ignored and recorded), future event times
clamped to now, and events appended with a fresh id each (no dedup: tests can see a double
send). Optional 202 ``queued`` mode. Tests read :attr:`BrazeEmulator.users` and ``events``.
"""

from __future__ import annotations

import collections
import math
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from audiences_emulators.base import Emulator, Request, Response

SANDBOX_KEY = "braze-sandbox-not-a-secret"
DEFAULT_PORT = 8766


def sandbox_env(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment that points the Braze destination at a sandbox emulator."""
    return {"BRAZE_REST_ENDPOINT": f"http://{host}:{port}", "BRAZE_API_KEY": SANDBOX_KEY}


ID_REQUIRED = "'external_id' or 'braze_id' or 'user_alias' is required"
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
IDENTIFIERS = ("external_id", "braze_id", "user_alias", "email", "phone")
STANDARD = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "country",
    "home_city",
    "dob",
    "gender",
    "language",
    "email_subscribe",
    "push_subscribe",
}


@dataclass
class BrazeConfig:
    keys: dict[str, set[str]] = field(
        default_factory=lambda: {SANDBOX_KEY: {"users.track", "users.delete", "users.export.ids"}}
    )
    requests_per_window: int | None = 3000
    window_seconds: float = 3.0
    object_limit: int = 75
    limit_per_array: bool = False  # legacy "75 per array" accounts
    success_status: int = 201
    queued: bool = False  # maintenance mode: 202 {"message": "queued"}
    max_string: int = 255
    max_array: int = 500
    latency: float = 0.0


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string"


class BrazeEmulator(Emulator):
    name = "braze"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: BrazeConfig | None = None):
        super().__init__(host, port)
        self.config = config or BrazeConfig()
        self._init_state()
        self.add_route("POST", "/users/track", self._track)
        self.add_route("POST", "/users/delete", self._delete)
        self.add_route("POST", "/users/export/ids", self._export)

    def _init_state(self) -> None:
        self.users: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.attribute_writes: list[tuple[str, dict[str, Any]]] = []
        self.type_conflicts: list[tuple[str, str, Any]] = []
        self.deleted: list[str] = []
        self._types: dict[str, str] = {}
        self._window: collections.deque[float] = collections.deque()
        self.throttled = 0
        self.api_calls = 0

    def summary(self) -> dict[str, Any]:
        return {
            "users": len(self.users),
            "events": len(self.events),
            "throttled": self.throttled,
            "api_calls": self.api_calls,
        }

    # --- helpers for tests ---------------------------------------------------------------
    def events_for(self, external_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events if e["external_id"] == external_id]

    # --- auth, limits, headers ---------------------------------------------------------------
    def _reset_epoch(self) -> int:
        now = time.time()
        oldest = self._window[0] if self._window else time.monotonic()
        wait = max(0.0, oldest + self.config.window_seconds - time.monotonic())
        return math.ceil(now + wait)

    def before(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        key = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        perms = self.config.keys.get(key)
        if perms is None:
            return Response(401, {"message": "Invalid API key: missing or unknown"})
        needed = {"/users/delete": "users.delete", "/users/export/ids": "users.export.ids"}.get(
            req.path, "users.track"
        )
        if needed not in perms:
            return Response(401, {"message": f"API key lacks the {needed} permission"})
        cfg = self.config
        with self.lock:
            now = time.monotonic()
            win = self._window
            while win and win[0] <= now - cfg.window_seconds:
                win.popleft()
            req.headers["x-emulator-auth"] = "1"
            if cfg.requests_per_window is not None and len(win) >= cfg.requests_per_window:
                self.throttled += 1
                return Response(429, {"message": "API rate limit exceeded"})
            win.append(now)
            self.api_calls += 1
        if cfg.latency:
            time.sleep(cfg.latency)
        return None

    def after(self, req: Request, resp: Response) -> None:
        cfg = self.config
        with self.lock:
            limit = cfg.requests_per_window or 1_000_000
            resp.headers["x-ratelimit-limit"] = str(limit)
            resp.headers["x-ratelimit-remaining"] = str(max(0, limit - len(self._window)))
            resp.headers["x-ratelimit-reset"] = str(self._reset_epoch())
        if resp.status >= 400 and isinstance(resp.body, dict) and "status" in resp.body:
            # An injected fault: give it Braze's error body shape.
            resp.body = {"message": resp.body.get("message") or "Internal Server Error"}

    # --- /users/track ----------------------------------------------------------------------
    def _validate_identity(self, obj: Any) -> str | None:
        if not isinstance(obj, dict) or not any(obj.get(k) for k in IDENTIFIERS):
            return ID_REQUIRED
        return None

    def _user_key(self, obj: dict[str, Any]) -> str:
        if obj.get("external_id"):
            return str(obj["external_id"])
        if obj.get("braze_id"):
            return "braze:" + str(obj["braze_id"])
        if obj.get("user_alias"):
            a = obj["user_alias"]
            return f"alias:{a.get('alias_label')}:{a.get('alias_name')}"
        return "email:" + str(obj.get("email") or obj.get("phone"))

    def _check_attributes(self, obj: dict[str, Any]) -> str | None:
        for k, v in obj.items():
            if isinstance(v, str) and len(v) > self.config.max_string:
                return f"'{k}' value exceeds {self.config.max_string} characters"
        email = obj.get("email")
        if email not in (None, "") and not EMAIL_RE.match(str(email)):
            return f"'email' is not a valid email address: {email}"
        return None

    def _apply_attributes(self, obj: dict[str, Any]) -> None:
        key = self._user_key(obj)
        user = self.users.setdefault(key, {})
        written = {}
        for name, value in obj.items():
            if name in ("external_id", "_update_existing_only"):
                continue
            if value is None:
                user.pop(name, None)
                written[name] = None
                continue
            if isinstance(value, dict) and ({"add", "remove"} & set(value)):
                arr = list(user.get(name) or [])
                for item in value.get("remove") or []:
                    if item in arr:
                        arr.remove(item)
                for item in value.get("add") or []:
                    if item in arr:
                        arr.remove(item)
                    arr.append(item)
                value = arr
            if isinstance(value, list):
                value = value[-self.config.max_array :]
            t = _type_of(value)
            locked = self._types.setdefault(name, t)
            if locked != t:
                self.type_conflicts.append((key, name, value))
                continue
            user[name] = value
            written[name] = value
        if obj.get("external_id"):
            user["external_id"] = str(obj["external_id"])
        self.attribute_writes.append((key, written))

    def _apply_event(self, obj: dict[str, Any]) -> None:
        when = str(obj.get("time") or "")
        try:
            t = datetime.fromisoformat(when.replace("Z", "+00:00"))
            if t.tzinfo is None:
                t = t.replace(tzinfo=UTC)
            if t > datetime.now(UTC):
                when = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            pass
        self.events.append(
            {
                "id": uuid.uuid4().hex,
                "external_id": self._user_key(obj),
                "name": obj.get("name"),
                "time": when,
                "properties": dict(obj.get("properties") or {}),
            }
        )
        self.users.setdefault(self._user_key(obj), {"external_id": self._user_key(obj)})

    def _track(self, req: Request, args: dict[str, str]) -> Response:
        body = req.body if isinstance(req.body, dict) else {}
        arrays = {k: body.get(k) or [] for k in ("attributes", "events", "purchases")}
        if any(not isinstance(v, list) for v in arrays.values()):
            return Response(
                400, {"message": "'attributes', 'events' and 'purchases' must be arrays"}
            )
        cfg = self.config
        sizes = [len(v) for v in arrays.values()]
        too_many = (
            max(sizes) > cfg.object_limit if cfg.limit_per_array else sum(sizes) > cfg.object_limit
        )
        if too_many:
            return Response(400, {"message": "Max Input Length Exceeded"})
        errors: list[dict[str, Any]] = []
        valid: dict[str, list[dict[str, Any]]] = {k: [] for k in arrays}
        for name, objs in arrays.items():
            for i, obj in enumerate(objs):
                problem = self._validate_identity(obj)
                if problem is None and name == "attributes":
                    problem = self._check_attributes(obj)
                if (
                    problem is None
                    and name == "events"
                    and not (obj.get("name") and obj.get("time"))
                ):
                    problem = "'name' and 'time' are required"
                if problem:
                    errors.append({"type": problem, "input_array": name, "index": i})
                else:
                    valid[name].append(obj)
        if not any(valid.values()):
            return Response(
                400,
                {
                    "message": "Valid data must be provided in the 'attributes', 'events', or "
                    "'purchases' fields.",
                    "errors": errors,
                },
            )
        if cfg.queued:
            return Response(202, {"message": "queued"})
        for obj in valid["attributes"]:
            self._apply_attributes(obj)
        for obj in valid["events"]:
            self._apply_event(obj)
        out: dict[str, Any] = {"message": "success"}
        for name in ("attributes", "events", "purchases"):
            if arrays[name]:
                out[f"{name}_processed"] = len(valid[name])
        if errors:
            out["errors"] = errors
        return Response(cfg.success_status, out)

    def _export(self, req: Request, args: dict[str, str]) -> Response:
        """``/users/export/ids``: standard fields at the top level, custom attributes under
        ``custom_attributes``; at most 50 external ids per request."""
        body = req.body if isinstance(req.body, dict) else {}
        ids = [str(i) for i in body.get("external_ids") or []]
        if len(ids) > 50:
            return Response(400, {"message": "Max Input Length Exceeded"})
        users, missing = [], []
        for i in ids:
            user = self.users.get(i)
            if user is None:
                missing.append(i)
                continue
            out: dict[str, Any] = {"external_id": i, "custom_attributes": {}}
            for k, v in user.items():
                if k in STANDARD:
                    out[k] = v
                elif k != "external_id":
                    out["custom_attributes"][k] = v
            users.append(out)
        resp: dict[str, Any] = {"users": users, "message": "success"}
        if missing:
            resp["invalid_user_ids"] = missing
        return Response(201, resp)

    def _delete(self, req: Request, args: dict[str, str]) -> Response:
        body = req.body if isinstance(req.body, dict) else {}
        ids = [str(i) for i in body.get("external_ids") or []]
        if len(ids) > 50:
            return Response(400, {"message": "Max Input Length Exceeded"})
        for i in ids:
            if self.users.pop(i, None) is not None:
                self.deleted.append(i)
        return Response(201, {"message": "success", "deleted": len(ids)})


def main(argv: list[str] | None = None) -> int:
    """``python -m audiences_emulators.braze --port 8766`` (sandbox and benchmarks)."""
    import argparse
    import contextlib

    ap = argparse.ArgumentParser(prog="python -m audiences_emulators.braze")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--key", action="append", help=f"accepted REST API key ({SANDBOX_KEY})")
    ap.add_argument("--rate", type=int, default=3000, help="requests per window; 0 = no limit")
    ap.add_argument("--window", type=float, default=3.0)
    ap.add_argument("--object-limit", type=int, default=75)
    args = ap.parse_args(argv)
    cfg = BrazeConfig(
        keys={
            k: {"users.track", "users.delete", "users.export.ids"}
            for k in (args.key or [SANDBOX_KEY])
        },
        requests_per_window=args.rate or None,
        window_seconds=args.window,
        object_limit=args.object_limit,
    )
    emu = BrazeEmulator(args.host, args.port, cfg)
    print(f"braze emulator on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
