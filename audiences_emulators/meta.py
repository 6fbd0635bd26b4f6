"""A stateful Meta Graph API emulator for customer-file Custom Audiences (destination-apis.md
§3 and §5).

Reproduces: ``access_token`` in the query string, a form body, a JSON body or a Bearer header
(bad token -> 400 code 190), the ``/v{N}.0/`` prefix (versions older than ``min_version`` ->
code 2635), audience creation requiring ``customer_file_source``, ``/users`` POST / DELETE and
``/usersreplace`` POST with ``payload`` / ``session`` in any encoding, >10,000 rows -> 400 code
100, per-row validation (64-char lower-case hex for hashed keys, row length = schema length)
counted in ``num_invalid_entries`` with ``invalid_entry_samples``, upload sessions (``GET
/{id}/sessions``; ``stage`` uploading until ``last_batch_flag``), replace sessions that must
start at ``batch_seq`` 1 (code 2650 / subcode 1870147) and swap the members when the last batch
arrives, an optional code 803 on the first write to a new audience, the per-ad-account
rolling-hour budget (5,000 + 40 x audiences) answered with code 80003 and
``X-Business-Use-Case-Usage`` on every response once used, flagged audiences (code 100
subcode 1713230), and size ranges that hide counts below 1,000.

Members are stored as hashed rows; :attr:`MetaEmulator.acks` lists every applied row, so a
test can see double sends.
"""

from __future__ import annotations

import collections
import json
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from audiences_emulators.base import Emulator, Request, Response

SANDBOX_TOKEN = "meta-sandbox-not-a-secret"
DEFAULT_PORT = 8767


def sandbox_env(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment that points the Meta destination at a sandbox emulator."""
    return {"META_GRAPH_URL": f"http://{host}:{port}/v25.0", "META_ACCESS_TOKEN": SANDBOX_TOKEN}


HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX_RUN = re.compile(r"[0-9a-f]*")  # the hashed cells of a row, joined
CLEAR_KEYS = {"EXTERN_ID", "MADID", "LOOKALIKE_VALUE", "DATA_PROCESSING_OPTIONS"}
SOURCES = {"USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"}


@dataclass
class MetaConfig:
    tokens: set[str] = field(default_factory=lambda: {SANDBOX_TOKEN})
    row_limit: int = 10_000
    hourly_base: int | None = 5000  # None = no business-use-case limit
    per_audience: int = 40
    window_seconds: float = 3600.0
    min_version: int = 20
    reject_first_write: bool = False  # code 803 once per new audience
    flagged: set[str] = field(default_factory=set)  # audience ids whose writes are blocked
    latency: float = 0.0


@dataclass
class Ack:
    kind: str  # add | remove | replace
    audience_id: str
    row: tuple[tuple[str, str], ...]


def _graph_error(
    message: str,
    code: int,
    subcode: int | None = None,
    status: int = 400,
    kind: str = "OAuthException",
) -> Response:
    err: dict[str, Any] = {
        "message": message,
        "type": kind,
        "code": code,
        "fbtrace_id": uuid.uuid4().hex[:11],
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return Response(status, {"error": err})


class MetaEmulator(Emulator):
    name = "meta"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: MetaConfig | None = None):
        super().__init__(host, port)
        self.config = config or MetaConfig()
        self._init_state()
        r = self.add_route
        r("POST", r'/act_<re("\d+"):acct>/customaudiences', self._create)
        r("GET", r'/act_<re("\d+"):acct>/customaudiences', self._list)
        r("POST", r'/<re("\d+"):aud>/users', self._add)
        r("DELETE", r'/<re("\d+"):aud>/users', self._remove)
        r("POST", r'/<re("\d+"):aud>/usersreplace', self._replace)
        r("GET", r'/<re("\d+"):aud>/sessions', self._sessions)
        r("GET", r'/<re("\d+"):aud>', self._get)

    def _init_state(self) -> None:
        self.audiences: dict[str, dict[str, Any]] = {}
        self.acks: list[Ack] = []
        self._next_id = 23850000000000001
        self._calls: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )
        self.throttled = 0
        self.api_calls = 0
        self.versions: collections.Counter[str] = collections.Counter()

    def summary(self) -> dict[str, Any]:
        return {
            "audiences": len(self.audiences),
            "throttled": self.throttled,
            "api_calls": self.api_calls,
            "acks": len(self.acks),
        }

    # --- helpers for tests ---------------------------------------------------------------
    def audience_by_name(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((a for a in self.audiences.values() if a["name"] == name), None)

    def members(self, name: str) -> set[tuple[tuple[str, str], ...]]:
        aud = self.audience_by_name(name)
        return set() if aud is None else set(aud["members"])

    def member_values(self, name: str, key: str) -> set[str]:
        """The ``key`` cells (e.g. EMAIL hashes) of the members of audience ``name``."""
        return {dict(row).get(key, "") for row in self.members(name)} - {""}

    # --- parsing, auth, limits ---------------------------------------------------------------
    def normalize_path(self, path: str) -> str:
        m = re.match(r"^/v(\d+)\.0(/.*)$", path)
        if m:
            self.versions[m.group(1)] += 1
            if int(m.group(1)) < self.config.min_version:
                return "/__deprecated_version__" + m.group(2)
            return m.group(2)
        return path

    @staticmethod
    def params(req: Request) -> dict[str, Any]:
        out: dict[str, Any] = {k: v[-1] for k, v in req.query.items()}
        ctype = req.headers.get("content-type", "")
        if isinstance(req.body, dict):
            out.update(req.body)
        elif req.raw and "x-www-form-urlencoded" in ctype:
            out.update({k: v[-1] for k, v in parse_qs(req.raw.decode()).items()})
        for k in ("payload", "session"):
            if isinstance(out.get(k), str):
                try:
                    out[k] = json.loads(out[k])
                except ValueError:
                    out[k] = None
        return out

    def _account_of(self, req: Request) -> str | None:
        m = re.match(r"^/act_(\d+)/", req.path)
        if m:
            return m.group(1)
        m = re.match(r"^/(\d+)", req.path)
        aud = self.audiences.get(m.group(1)) if m else None
        return aud["account"] if aud else None

    def _budget(self, acct: str) -> int | None:
        if self.config.hourly_base is None:
            return None
        n = sum(1 for a in self.audiences.values() if a["account"] == acct)
        return min(700_000, self.config.hourly_base + self.config.per_audience * n)

    def before(self, req: Request) -> Response | None:
        if req.path.startswith("/__deprecated_version__"):
            return _graph_error(
                "(#2635) You are calling a deprecated version of the Ads API.", 2635
            )
        p = self.params(req)
        token = p.get("access_token")
        auth = req.headers.get("authorization", "")
        if not token and auth.startswith("Bearer "):
            token = auth[len("Bearer ") :].strip()
        if token not in self.config.tokens:
            return _graph_error("Invalid OAuth access token.", 190)
        with self.lock:
            acct = self._account_of(req)
            if acct is not None:
                req.headers["x-emulator-account"] = acct
                budget = self._budget(acct)
                calls = self._calls[acct]
                now = time.monotonic()
                while calls and calls[0] <= now - self.config.window_seconds:
                    calls.popleft()
                if budget is not None and len(calls) >= budget:
                    self.throttled += 1
                    return _graph_error(
                        "There have been too many calls to this ad-account. Wait a bit and try "
                        "again.",
                        80003,
                        2446079,
                    )
                calls.append(now)
            self.api_calls += 1
        if self.config.latency:
            time.sleep(self.config.latency)
        return None

    def after(self, req: Request, resp: Response) -> None:
        if isinstance(resp.body, dict) and "status" in resp.body and "error" not in resp.body:
            # An injected fault: Graph error envelope.
            resp.body = {
                "error": {
                    "message": resp.body.get("message", "An unknown error occurred"),
                    "type": "OAuthException",
                    "code": 2,
                    "is_transient": True,
                    "fbtrace_id": uuid.uuid4().hex[:11],
                }
            }
        acct = req.headers.get("x-emulator-account")
        if acct is None:
            return
        with self.lock:
            budget = self._budget(acct)
            used = len(self._calls[acct])
            if budget is None or used == 0:
                return
            pct = min(100, int(100 * used / budget))
            oldest = self._calls[acct][0] if self._calls[acct] else time.monotonic()
            wait_min: float = 0
            if pct >= 100:  # minutes (fractional when the emulator's window is short)
                left = max(0.0, oldest + self.config.window_seconds - time.monotonic())
                wait_min = round(left / 60, 4) if left < 60 else round(left / 60)
            resp.headers["X-Business-Use-Case-Usage"] = json.dumps(
                {
                    acct: [
                        {
                            "type": "custom_audience",
                            "call_count": pct,
                            "total_cputime": 1,
                            "total_time": 1,
                            "estimated_time_to_regain_access": wait_min,
                        }
                    ]
                }
            )

    # --- audiences -----------------------------------------------------------------------
    def _view(self, aud: dict[str, Any]) -> dict[str, Any]:
        n = len(aud["members"])
        low, high = (-1, -1) if n < 1000 else (int(n * 0.9), int(n * 1.1))
        return {
            "id": aud["id"],
            "name": aud["name"],
            "subtype": "CUSTOM",
            "customer_file_source": aud["customer_file_source"],
            "approximate_count_lower_bound": low,
            "approximate_count_upper_bound": high,
            "operation_status": {
                "code": 471 if aud["id"] in self.config.flagged else 200,
                "description": "Normal",
            },
            "delivery_status": {"code": 200},
        }

    def _create(self, req: Request, args: dict[str, str]) -> Response:
        p = self.params(req)
        if not p.get("name"):
            return _graph_error("(#100) The parameter name is required", 100)
        if p.get("customer_file_source") not in SOURCES:
            return _graph_error(
                "(#100) customer_file_source is required for customer file custom audiences and "
                f"must be one of {', '.join(sorted(SOURCES))}",
                100,
            )
        aid = str(self._next_id)
        self._next_id += 1
        self.audiences[aid] = {
            "id": aid,
            "account": args["acct"],
            "name": p["name"],
            "description": p.get("description", ""),
            "customer_file_source": p["customer_file_source"],
            "members": set(),
            "sessions": {},
            "replace": None,
            "fresh": self.config.reject_first_write,
        }
        return Response(200, {"id": aid})

    def _list(self, req: Request, args: dict[str, str]) -> Response:
        data = [
            {"id": a["id"], "name": a["name"]}
            for a in self.audiences.values()
            if a["account"] == args["acct"]
        ]
        return Response(200, {"data": data, "paging": {"cursors": {}}})

    def _get(self, req: Request, args: dict[str, str]) -> Response:
        aud = self.audiences.get(args["aud"])
        if aud is None:
            return _graph_error(f"(#100) Object with ID '{args['aud']}' does not exist", 100)
        return Response(200, self._view(aud))

    def _sessions(self, req: Request, args: dict[str, str]) -> Response:
        aud = self.audiences.get(args["aud"])
        if aud is None:
            return _graph_error("(#100) Unknown audience", 100)
        want = (req.query.get("session_id") or [None])[0]
        rows = [s for sid, s in aud["sessions"].items() if want is None or sid == want]
        return Response(200, {"data": rows})

    # --- membership writes ----------------------------------------------------------------
    def _parse_rows(self, p: dict[str, Any]) -> tuple[list[str], list[list[Any]], Response | None]:
        payload = p.get("payload")
        if not isinstance(payload, dict) or "schema" not in payload or "data" not in payload:
            return [], [], _graph_error("(#100) The parameter payload is required", 100)
        schema = payload["schema"]
        schema = [schema] if isinstance(schema, str) else list(schema)
        data = payload["data"]
        if not isinstance(data, list):
            return [], [], _graph_error("(#100) payload.data must be an array", 100)
        rows = [r if isinstance(r, list) else [r] for r in data]
        if len(rows) > self.config.row_limit:
            return (
                [],
                [],
                _graph_error(
                    f"(#100) Too many rows: {len(rows)} "
                    f"(at most {self.config.row_limit} per request)",
                    100,
                ),
            )
        return schema, rows, None

    def _valid_rows(
        self, schema: list[str], rows: list[list[Any]]
    ) -> tuple[list[tuple[tuple[str, str], ...]], int, dict[str, str]]:
        keys = [re.sub("_SHA256$", "", k.upper()) for k in schema]
        hashed = [k not in CLEAR_KEYS for k in keys]
        good, bad, samples = [], 0, {}
        for row in rows:
            if self._plainly_valid(hashed, row):  # every cell a string: kept as is
                good.append(tuple(kc for kc in zip(keys, row, strict=True) if kc[1]))
                continue
            problem = self._row_problem(keys, row)
            if problem:
                bad += 1
                if len(samples) < 5:
                    samples[str(len(samples))] = problem
                continue
            good.append(tuple((k, str(c)) for k, c in zip(keys, row, strict=True) if c))
        return good, bad, samples

    @staticmethod
    def _plainly_valid(hashed: list[bool], row: list[Any]) -> bool:
        """The common case in one regular-expression match per row: as many cells as schema
        keys, every cell a string, the hashed ones (when given) 64 lower-case hex characters,
        one cell at least given. False: :meth:`_row_problem` looks cell by cell."""
        if len(row) != len(hashed) or not any(row):
            return False
        try:
            cells = [c for c, h in zip(row, hashed, strict=True) if h and c]
            joined = "".join(cells)
        except TypeError:  # a cell that is not a string
            return False
        return bool(HEX_RUN.fullmatch(joined)) and all(len(c) == 64 for c in cells)

    @staticmethod
    def _row_problem(keys: list[str], row: list[Any]) -> str | None:
        if len(row) != len(keys):
            return f"row has {len(row)} values for {len(keys)} schema keys"
        for k, cell in zip(keys, row, strict=True):
            cell = "" if cell is None else str(cell)
            if cell and k not in CLEAR_KEYS and not HEX64.match(cell):
                return f"{k} is not a SHA-256 hex hash"
        if not any(row):
            return "row has no identifier"
        return None

    def _session(self, aud: dict[str, Any], sess: Any, received: int, invalid: int) -> str:
        sess = sess if isinstance(sess, dict) else {}
        sid = str(sess.get("session_id") or uuid.uuid4().int % 10**12)
        s = aud["sessions"].setdefault(
            sid,
            {
                "session_id": sid,
                "start_time": int(time.time()),
                "end_time": "0",
                "num_received": 0,
                "num_matched": "-1",
                "num_invalid_entries": 0,
                "progress": 0,
                "stage": "uploading",
                "batches": [],
            },
        )
        s["num_received"] += received
        s["num_invalid_entries"] += invalid
        s["batches"].append(sess.get("batch_seq"))
        if sess.get("last_batch_flag"):
            s["stage"] = "finished"
            s["end_time"] = int(time.time())
            s["progress"] = 100
        return sid

    def _write(self, req: Request, args: dict[str, str], kind: str) -> Response:
        aud = self.audiences.get(args["aud"])
        if aud is None:
            return _graph_error(f"(#100) Object with ID '{args['aud']}' does not exist", 100)
        if aud["id"] in self.config.flagged:
            return _graph_error("(#100) Audience Upload Blocked", 100, 1713230)
        if aud["fresh"]:
            aud["fresh"] = False
            return _graph_error("(#803) Some of the aliases you requested do not exist: users", 803)
        p = self.params(req)
        schema, rows, bad = self._parse_rows(p)
        if bad:
            return bad
        sess = p.get("session") if isinstance(p.get("session"), dict) else {}
        if kind == "replace":
            sid = str(sess.get("session_id") or "")
            current = aud["replace"]
            if current is None or current["session_id"] != sid:
                if sess.get("batch_seq") != 1:
                    return _graph_error("Invalid Upload Batch for Replace", 2650, 1870147)
                aud["replace"] = current = {"session_id": sid, "rows": set()}
        good, invalid, samples = self._valid_rows(schema, rows)
        if kind == "add":
            aud["members"].update(good)
        elif kind == "remove":
            aud["members"].difference_update(good)
        else:
            current["rows"].update(good)
        self.acks.extend(Ack(kind, aud["id"], r) for r in good)
        sid = self._session(aud, sess, len(rows), invalid)
        if kind == "replace" and sess.get("last_batch_flag"):
            aud["members"] = set(current["rows"])
            aud["replace"] = None
        return Response(
            200,
            {
                "audience_id": aud["id"],
                "session_id": sid,
                "num_received": len(rows),
                "num_invalid_entries": invalid,
                "invalid_entry_samples": samples,
            },
        )

    def _add(self, req: Request, args: dict[str, str]) -> Response:
        return self._write(req, args, "add")

    def _remove(self, req: Request, args: dict[str, str]) -> Response:
        return self._write(req, args, "remove")

    def _replace(self, req: Request, args: dict[str, str]) -> Response:
        return self._write(req, args, "replace")


def main(argv: list[str] | None = None) -> int:
    """``python -m audiences_emulators.meta --port 8767`` (sandbox and benchmarks)."""
    import argparse
    import contextlib

    ap = argparse.ArgumentParser(prog="python -m audiences_emulators.meta")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--token", action="append", help=f"accepted token ({SANDBOX_TOKEN})")
    ap.add_argument(
        "--hourly-base", type=int, default=5000, help="calls per ad account per hour; 0 = off"
    )
    args = ap.parse_args(argv)
    cfg = MetaConfig(
        tokens=set(args.token or [SANDBOX_TOKEN]), hourly_base=args.hourly_base or None
    )
    emu = MetaEmulator(args.host, args.port, cfg)
    print(f"meta emulator on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
