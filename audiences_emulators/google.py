"""Google Customer Match emulators (destination-apis.md §4 and §5): the Data Manager API
(``/v1/audienceMembers:ingest|remove``) and the Google Ads API REST flow (user lists, offline
user data jobs, GAQL polling) in one server.

Data Manager: Bearer auth (401 ``UNAUTHENTICATED``), <=10,000 members per request and <=10
identifiers per member (400 ``INVALID_ARGUMENT`` with ``BadRequest.fieldViolations`` naming
``audience_members[i]``), ``encoding`` required for user data, identifiers checked as SHA-256
hex, ``validateOnly`` (validated, not applied), per-member / request consent recorded (and
required with ``require_consent``), 300 requests per minute and 100,000 per day per project
-> 429 ``RESOURCE_EXHAUSTED`` with a ``RetryInfo.retryDelay``; success ``{"requestId": ...}``.

Google Ads REST: Bearer + ``developer-token`` (401 / 403), ``userLists:mutate``,
``offlineUserDataJobs:create`` (consent required on add jobs with ``require_consent``),
``:addOperations`` (>100,000 identifiers -> 400, >20 per UserData, malformed hashes ->
``INVALID_SHA256_FORMAT``, create/remove mixed -> ``CONFLICTING_OPERATION``, ``removeAll`` not
first -> ``INVALID_OPERATION_ORDER``, after run -> ``JOB_ALREADY_STARTED``; partial failure as
``partialFailureError`` or a whole-request 400), two overlapping ``addOperations`` on one job
-> 409 ``CONCURRENT_MODIFICATION``, ``:run`` -> Operation, job PENDING -> RUNNING -> SUCCESS
after ``job_seconds``, GAQL search on ``user_list`` and ``offline_user_data_job``, a daily
operation quota (429 ``RESOURCE_EXHAUSTED`` with ``QuotaErrorDetails.retryDelay``) and an
allowlist mode answering ``CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE``.
"""

from __future__ import annotations

import collections
import hashlib
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from audiences_emulators.base import Emulator, Request, Response

SANDBOX_TOKEN = "google-sandbox-not-a-secret"
SANDBOX_DEVELOPER_TOKEN = "google-sandbox-developer-token"
DEFAULT_PORT = 8768


def sandbox_env(port: int = DEFAULT_PORT, host: str = "127.0.0.1") -> dict[str, str]:
    """Environment that points both Google destinations at a sandbox emulator."""
    url = f"http://{host}:{port}"
    return {
        "GOOGLE_DATA_MANAGER_URL": url,
        "GOOGLE_ADS_BASE_URL": url,
        "GOOGLE_ACCESS_TOKEN": SANDBOX_TOKEN,
        "GOOGLE_ADS_DEVELOPER_TOKEN": SANDBOX_DEVELOPER_TOKEN,
    }


HEX64 = re.compile(r"^[0-9a-f]{64}$")
ADS_VERSION = "v24"
FAILURE_TYPE = f"type.googleapis.com/google.ads.googleads.{ADS_VERSION}.errors.GoogleAdsFailure"


#: (lowest percentage, enum) of Google Ads' OfflineUserDataJobMatchRateRange, highest first
MATCH_RATE_RANGES = (
    (91, "MATCH_RANGE_91_TO_100"),
    (81, "MATCH_RANGE_81_TO_90"),
    (71, "MATCH_RANGE_71_TO_80"),
    (61, "MATCH_RANGE_61_TO_70"),
    (51, "MATCH_RANGE_51_TO_60"),
    (41, "MATCH_RANGE_41_TO_50"),
    (31, "MATCH_RANGE_31_TO_40"),
    (20, "MATCH_RANGE_20_TO_30"),
    (0, "MATCH_RANGE_LESS_THAN_20"),
)


def match_rate_range(percent: float) -> str:
    """The enum of a match rate in percent (rounded to a whole percent first)."""
    whole = round(percent)
    return next(name for low, name in MATCH_RATE_RANGES if whole >= low)


@dataclass
class GoogleConfig:
    tokens: set[str] = field(default_factory=lambda: {SANDBOX_TOKEN})
    developer_tokens: set[str] = field(default_factory=lambda: {SANDBOX_DEVELOPER_TOKEN})
    # Data Manager
    dm_member_limit: int = 10_000
    dm_identifier_limit: int = 10
    dm_per_minute: int | None = 300
    dm_minute_seconds: float = 60.0
    dm_per_day: int | None = 100_000
    require_consent: bool = False
    # Google Ads API
    ads_identifier_limit: int = 100_000
    ads_per_user_limit: int = 20
    ads_daily_operations: int | None = 15_000
    ads_per_window: int | None = None  # short-term requests per customer (token bucket)
    ads_window_seconds: float = 1.0
    job_seconds: float = 0.05
    # share of uploaded people Google "knows" (decided per member from the hash of its first
    # identifier), reported as the job's match rate range when it succeeds
    match_share: float = 0.6
    allowlisted: bool = True
    add_ops_latency: float = 0.0
    latency: float = 0.0


def _google_error(
    status: int, code: str, message: str, details: list[Any] | None = None
) -> Response:
    return Response(
        status,
        {"error": {"code": status, "message": message, "status": code, "details": details or []}},
    )


def _ads_failure(status: int, code: str, errors: list[dict[str, Any]], message: str) -> Response:
    return _google_error(
        status,
        code,
        message,
        [{"@type": FAILURE_TYPE, "errors": errors, "requestId": uuid.uuid4().hex[:22]}],
    )


def _ads_error(kind: str, value: str, message: str, index: int | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"errorCode": {kind: value}, "message": message}
    if index is not None:
        err["location"] = {
            "fieldPathElements": [
                {"fieldName": "operations", "index": index},
                {"fieldName": "create"},
            ]
        }
    return err


class GoogleEmulator(Emulator):
    name = "google"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: GoogleConfig | None = None):
        super().__init__(host, port)
        self.config = config or GoogleConfig()
        self._init_state()
        r = self.add_route
        r("POST", r"/v1/audienceMembers:ingest", self._dm_ingest)
        r("POST", r"/v1/audienceMembers:remove", self._dm_remove)
        c = r'/<re("v\d+"):version>/customers/<re("\d+"):cid>'
        r("POST", c + r"/userLists:mutate", self._user_lists)
        r("POST", c + r"/offlineUserDataJobs:create", self._job_create)
        r("POST", c + r'/offlineUserDataJobs/<re("\d+"):job>:addOperations', self._job_add)
        r("POST", c + r'/offlineUserDataJobs/<re("\d+"):job>:run', self._job_run)
        r("POST", c + r"/googleAds:search", self._search)

    def _init_state(self) -> None:
        # Data Manager: (account, user list) -> set of member identifier tuples
        self.dm_members: dict[tuple[str, str], set[tuple[tuple[str, str], ...]]] = (
            collections.defaultdict(set)
        )
        self.dm_consent: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}
        self.dm_acks: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        self.request_ids: list[str] = []
        self._minute: collections.deque[float] = collections.deque()
        self._day = 0
        # Google Ads
        self.user_lists: dict[str, dict[str, Any]] = {}
        self.jobs: dict[str, dict[str, Any]] = {}
        self.ads_members: dict[str, set[tuple[tuple[str, str], ...]]] = collections.defaultdict(set)
        self.ads_acks: list[tuple[str, str, tuple[tuple[str, str], ...]]] = []
        self._busy: set[str] = set()
        self._ads_window: collections.deque[float] = collections.deque()
        self._ops_today = 0
        self._next = 1000
        self.throttled = 0
        self.api_calls = 0
        self.concurrent_rejections = 0

    def summary(self) -> dict[str, Any]:
        return {
            "throttled": self.throttled,
            "api_calls": self.api_calls,
            "dm_lists": len(self.dm_members),
            "jobs": len(self.jobs),
        }

    def _id(self) -> str:
        self._next += 1
        return str(self._next)

    # --- helpers for tests ---------------------------------------------------------------
    def dm_list(self, account: str, user_list: str) -> set[tuple[tuple[str, str], ...]]:
        with self.lock:
            return set(self.dm_members.get((account, user_list), set()))

    def values(self, members: set[tuple[tuple[str, str], ...]], key: str) -> set[str]:
        return {v for m in members for k, v in m if k == key}

    def ads_list(self, name: str) -> set[tuple[tuple[str, str], ...]]:
        with self.lock:
            self._advance_jobs()
            rn = next((r for r, u in self.user_lists.items() if u["name"] == name), None)
            return set(self.ads_members.get(rn, set())) if rn else set()

    # --- auth, quota, concurrency ------------------------------------------------------------
    def _is_ads(self, req: Request) -> bool:
        return req.path.startswith("/v") and "/customers/" in req.path

    def before(self, req: Request) -> Response | None:
        auth = req.headers.get("authorization", "")
        tok = auth[len("Bearer ") :].strip() if auth.startswith("Bearer ") else ""
        if tok not in self.config.tokens:
            return _google_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token.",
            )
        cfg = self.config
        if self._is_ads(req):
            if req.headers.get("developer-token") not in cfg.developer_tokens:
                return _ads_failure(
                    401,
                    "UNAUTHENTICATED",
                    [
                        _ads_error(
                            "authenticationError",
                            "DEVELOPER_TOKEN_INVALID",
                            "The developer token is not valid.",
                        )
                    ],
                    "Request is missing or has an invalid developer token.",
                )
            if not cfg.allowlisted and ("offlineUserDataJobs" in req.path):
                return _ads_failure(
                    403,
                    "PERMISSION_DENIED",
                    [
                        _ads_error(
                            "offlineUserDataJobError",
                            "CUSTOMER_NOT_ALLOWLISTED_FOR_THIS_FEATURE",
                            "Customer Match uploads through the Google Ads "
                            "API need an allowlisted developer token; use "
                            "the Data Manager API.",
                        )
                    ],
                    "The caller does not have permission",
                )
            with self.lock:
                now = time.monotonic()
                win = self._ads_window
                while win and win[0] <= now - cfg.ads_window_seconds:
                    win.popleft()
                if cfg.ads_per_window is not None and len(win) >= cfg.ads_per_window:
                    self.throttled += 1
                    delay = max(0.001, win[0] + cfg.ads_window_seconds - now)
                    return _ads_failure(
                        429,
                        "RESOURCE_EXHAUSTED",
                        [
                            {
                                **_ads_error(
                                    "quotaError",
                                    "RESOURCE_TEMPORARILY_EXHAUSTED",
                                    "Too many requests in a short time.",
                                ),
                                "details": {
                                    "quotaErrorDetails": {
                                        "rateScope": "CUSTOMER",
                                        "rateName": "Requests per customer",
                                        "retryDelay": f"{delay:.3f}s",
                                    }
                                },
                            }
                        ],
                        "Resource has been temporarily exhausted",
                    )
                win.append(now)
                self.api_calls += 1
                if req.path.endswith(":addOperations"):
                    if cfg.ads_daily_operations is not None and (
                        self._ops_today >= cfg.ads_daily_operations
                    ):
                        self.throttled += 1
                        return _ads_failure(
                            429,
                            "RESOURCE_EXHAUSTED",
                            [
                                {
                                    **_ads_error(
                                        "quotaError", "RESOURCE_EXHAUSTED", "Too many requests."
                                    ),
                                    "details": {
                                        "quotaErrorDetails": {
                                            "rateScope": "DEVELOPER",
                                            "rateName": "Operations per day",
                                            "retryDelay": "86400s",
                                        }
                                    },
                                }
                            ],
                            "Resource has been exhausted",
                        )
                    job = req.path.rsplit("/", 1)[1].split(":")[0]
                    if job in self._busy:
                        self.concurrent_rejections += 1
                        return _ads_failure(
                            409,
                            "ABORTED",
                            [
                                _ads_error(
                                    "databaseError",
                                    "CONCURRENT_MODIFICATION",
                                    "Multiple requests were attempting to modify the same resource "
                                    "at "
                                    "once. Retry the request.",
                                )
                            ],
                            "Concurrent modification",
                        )
                    self._busy.add(job)
                    req.headers["x-emulator-busy"] = job
                    self._ops_today += 1
            if cfg.add_ops_latency and req.headers.get("x-emulator-busy"):
                time.sleep(cfg.add_ops_latency)
        else:
            with self.lock:
                now = time.monotonic()
                while self._minute and self._minute[0] <= now - cfg.dm_minute_seconds:
                    self._minute.popleft()
                over_min = cfg.dm_per_minute is not None and len(self._minute) >= cfg.dm_per_minute
                over_day = cfg.dm_per_day is not None and self._day >= cfg.dm_per_day
                if over_min or over_day:
                    self.throttled += 1
                    delay = (self._minute[0] + cfg.dm_minute_seconds - now) if over_min else 3600
                    return _google_error(
                        429,
                        "RESOURCE_EXHAUSTED",
                        "Quota exceeded for quota "
                        "metric 'Requests' of service datamanager.googleapis.com",
                        [
                            {
                                "@type": "type.googleapis.com/google.rpc.RetryInfo",
                                "retryDelay": f"{max(delay, 0.001):.3f}s",
                            }
                        ],
                    )
                self._minute.append(now)
                self._day += 1
                self.api_calls += 1
        if cfg.latency:
            time.sleep(cfg.latency)
        return None

    def after(self, req: Request, resp: Response) -> None:
        job = req.headers.get("x-emulator-busy")
        if job:
            with self.lock:
                self._busy.discard(job)
        if isinstance(resp.body, dict) and "status" in resp.body and "error" not in resp.body:
            status = {
                429: "RESOURCE_EXHAUSTED",
                503: "UNAVAILABLE",
                500: "INTERNAL",
                504: "DEADLINE_EXCEEDED",
                409: "ABORTED",
            }.get(resp.status, "UNKNOWN")
            resp.body = {
                "error": {
                    "code": resp.status,
                    "message": resp.body.get("message", ""),
                    "status": status,
                }
            }

    # --- Data Manager ------------------------------------------------------------------------
    def _dm_parse(
        self, req: Request, removing: bool
    ) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]], list[dict[str, str]], Response | None]:
        b = req.body if isinstance(req.body, dict) else {}
        dests = b.get("destinations") or []
        members = b.get("audienceMembers") or []
        violations: list[dict[str, str]] = []
        targets = []
        for i, d in enumerate(dests):
            acct = (d or {}).get("operatingAccount") or {}
            if not acct.get("accountId") or not d.get("productDestinationId"):
                violations.append(
                    {
                        "field": f"destinations[{i}]",
                        "description": "operating_account.account_id and product_destination_id "
                        "are required",
                    }
                )
            else:
                targets.append((str(acct["accountId"]), str(d["productDestinationId"])))
        if not dests:
            violations.append({"field": "destinations", "description": "required"})
        if not members:
            violations.append({"field": "audience_members", "description": "required"})
        if len(members) > self.config.dm_member_limit:
            return (
                [],
                [],
                [],
                _google_error(
                    400,
                    "INVALID_ARGUMENT",
                    f"Too many audience members: {len(members)} (at most "
                    f"{self.config.dm_member_limit} per request)",
                ),
            )
        if b.get("encoding") not in ("HEX", "BASE64"):
            violations.append(
                {"field": "encoding", "description": "encoding is required for user data"}
            )
        rows, consents = [], []
        req_consent = b.get("consent") or {}
        for i, m in enumerate(members):
            ids = (((m or {}).get("userData") or {}).get("userIdentifiers")) or []
            if not ids:
                violations.append(
                    {
                        "field": f"audience_members[{i}].user_data",
                        "description": "at least one user identifier is required",
                    }
                )
                continue
            if len(ids) > self.config.dm_identifier_limit:
                violations.append(
                    {
                        "field": f"audience_members[{i}].user_data.user_identifiers",
                        "description": "too many user identifiers (at most "
                        f"{self.config.dm_identifier_limit})",
                    }
                )
                continue
            row: list[tuple[str, str]] = []
            for j, ident in enumerate(ids):
                for k, v in (ident or {}).items():
                    if k == "address":
                        for ak, av in (v or {}).items():
                            if ak in ("givenName", "familyName") and not HEX64.match(str(av)):
                                violations.append(
                                    {
                                        "field": f"audience_members[{i}].user_data."
                                        f"user_identifiers[{j}].address.{ak}",
                                        "description": "not a valid SHA-256 hash",
                                    }
                                )
                            row.append((f"address.{ak}", str(av)))
                    elif k in ("emailAddress", "phoneNumber"):
                        if not HEX64.match(str(v)):
                            violations.append(
                                {
                                    "field": f"audience_members[{i}].user_data."
                                    f"user_identifiers[{j}].{k}",
                                    "description": "not a valid SHA-256 hash",
                                }
                            )
                        row.append((k, str(v)))
            consent = {**req_consent, **((m or {}).get("consent") or {})}
            if not removing and self.config.require_consent and not consent:
                violations.append(
                    {
                        "field": f"audience_members[{i}].consent",
                        "description": "consent is required",
                    }
                )
            rows.append(tuple(sorted(row)))
            consents.append(consent)
        if violations:
            return (
                [],
                [],
                [],
                _google_error(
                    400,
                    "INVALID_ARGUMENT",
                    "Request contains an invalid argument.",
                    [
                        {
                            "@type": "type.googleapis.com/google.rpc.BadRequest",
                            "fieldViolations": violations,
                        }
                    ],
                ),
            )
        return targets, rows, consents, None

    def _dm(self, req: Request, removing: bool) -> Response:
        targets, rows, consents, bad = self._dm_parse(req, removing)
        if bad:
            return bad
        rid = uuid.uuid4().hex
        if not (req.body or {}).get("validateOnly"):
            for t in targets:
                for row, consent in zip(rows, consents, strict=True):
                    if removing:
                        self.dm_members[t].discard(row)
                    else:
                        self.dm_members[t].add(row)
                        self.dm_consent[row] = consent
                    self.dm_acks.append(("remove" if removing else "ingest", t[1], row))
            self.request_ids.append(rid)
        return Response(200, {"requestId": rid})

    def _dm_ingest(self, req: Request, args: dict[str, str]) -> Response:
        return self._dm(req, False)

    def _dm_remove(self, req: Request, args: dict[str, str]) -> Response:
        return self._dm(req, True)

    # --- Google Ads: user lists --------------------------------------------------------------
    def _user_lists(self, req: Request, args: dict[str, str]) -> Response:
        ops = (req.body or {}).get("operations") or []
        results = []
        for i, op in enumerate(ops):
            create = (op or {}).get("create")
            if not create or not create.get("name"):
                return _ads_failure(
                    400,
                    "INVALID_ARGUMENT",
                    [_ads_error("fieldError", "REQUIRED", "name is required", i)],
                    "Invalid argument",
                )
            if any(u["name"] == create["name"] for u in self.user_lists.values()):
                return _ads_failure(
                    400,
                    "INVALID_ARGUMENT",
                    [
                        _ads_error(
                            "userListError",
                            "NAME_ALREADY_USED",
                            "Name is already being used for another user list for the account.",
                            i,
                        )
                    ],
                    "Invalid argument",
                )
            rn = f"customers/{args['cid']}/userLists/{self._id()}"
            self.user_lists[rn] = {
                "resourceName": rn,
                "name": create["name"],
                "membershipLifeSpan": create.get("membershipLifeSpan"),
                "crmBasedUserList": create.get("crmBasedUserList"),
            }
            results.append({"resourceName": rn})
        return Response(200, {"results": results})

    # --- Google Ads: jobs --------------------------------------------------------------------
    def _job_create(self, req: Request, args: dict[str, str]) -> Response:
        job = (req.body or {}).get("job") or {}
        meta = job.get("customerMatchUserListMetadata") or {}
        if (
            job.get("type") != "CUSTOMER_MATCH_USER_LIST"
            or meta.get("userList") not in self.user_lists
        ):
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "offlineUserDataJobError",
                        "INVALID_USER_LIST_ID",
                        "The user list does not exist or is not a Customer Match list.",
                    )
                ],
                "Invalid argument",
            )
        consent = meta.get("consent") or {}
        if "DENIED" in consent.values():
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "offlineUserDataJobError",
                        "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS",
                        "Consent was denied.",
                    )
                ],
                "Invalid argument",
            )
        jid = self._id()
        rn = f"customers/{args['cid']}/offlineUserDataJobs/{jid}"
        self.jobs[jid] = {
            "resourceName": rn,
            "userList": meta["userList"],
            "consent": consent,
            "status": "PENDING",
            "ops": [],
            "kind": None,
            "run_at": None,
            "failure_reason": "UNSPECIFIED",
        }
        return Response(200, {"resourceName": rn})

    def _job_add(self, req: Request, args: dict[str, str]) -> Response:
        job = self.jobs.get(args["job"])
        if job is None:
            return _ads_failure(
                404,
                "NOT_FOUND",
                [_ads_error("offlineUserDataJobError", "INVALID_JOB_ID", "Job not found")],
                "Not found",
            )
        b = req.body or {}
        ops = b.get("operations") or []
        partial = bool(b.get("enablePartialFailure"))
        if job["status"] != "PENDING":
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "offlineUserDataJobError",
                        "JOB_ALREADY_STARTED",
                        "Operations cannot be added after the job has started.",
                    )
                ],
                "Invalid argument",
            )
        total = sum(
            len(((o.get("create") or o.get("remove") or {}).get("userIdentifiers")) or [])
            for o in ops
        )
        if total > self.config.ads_identifier_limit:
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "offlineUserDataJobError",
                        "TOO_MANY_USER_IDENTIFIERS",
                        f"{total} identifiers in one request (at most "
                        f"{self.config.ads_identifier_limit}).",
                    )
                ],
                "Invalid argument",
            )
        errors, good = [], []
        for i, op in enumerate(ops):
            kind = (
                "removeAll" if op.get("removeAll") else ("create" if "create" in op else "remove")
            )
            if kind == "removeAll":
                if job["ops"] or i > 0:
                    errors.append(
                        _ads_error(
                            "offlineUserDataJobError",
                            "INVALID_OPERATION_ORDER",
                            "removeAll must be the first operation",
                            i,
                        )
                    )
                    continue
                good.append(("removeAll", ()))
                continue
            base = job["kind"] or next((k for k, _ in good if k != "removeAll"), None)
            if base is not None and base != kind:
                errors.append(
                    _ads_error(
                        "offlineUserDataJobError",
                        "CONFLICTING_OPERATION",
                        "create and remove cannot be mixed in one job",
                        i,
                    )
                )
                continue
            ids = (op[kind] or {}).get("userIdentifiers") or []
            problem = None
            if len(ids) > self.config.ads_per_user_limit:
                problem = (
                    "userDataError",
                    "TOO_MANY_USER_IDENTIFIERS",
                    "Too many user identifiers in one UserData.",
                )
            row = []
            for ident in ids:
                for k, v in (ident or {}).items():
                    if k == "addressInfo":
                        for ak, av in (v or {}).items():
                            if ak.startswith("hashed") and not HEX64.match(str(av)):
                                problem = problem or (
                                    "offlineUserDataJobError",
                                    "INVALID_SHA256_FORMAT",
                                    "The SHA256 encoded value is malformed.",
                                )
                            row.append((f"addressInfo.{ak}", str(av)))
                    else:
                        if k.startswith("hashed") and not HEX64.match(str(v)):
                            problem = problem or (
                                "offlineUserDataJobError",
                                "INVALID_SHA256_FORMAT",
                                "The SHA256 encoded value is malformed.",
                            )
                        row.append((k, str(v)))
            if not row:
                problem = problem or (
                    "offlineUserDataJobError",
                    "MISSING_USER_IDENTIFIER",
                    "No user identifier in the operation.",
                )
            if problem:
                errors.append(_ads_error(problem[0], problem[1], problem[2], i))
                continue
            good.append((kind, tuple(sorted(row))))
        if errors and not partial:
            return _ads_failure(400, "INVALID_ARGUMENT", errors, "Invalid argument")
        if not b.get("validateOnly"):
            for kind, row in good:
                if kind != "removeAll":
                    job["kind"] = kind
                job["ops"].append((kind, row))
        if errors:
            return Response(
                200,
                {
                    "partialFailureError": {
                        "code": 3,
                        "message": f"{len(errors)} operation(s) failed",
                        "details": [
                            {
                                "@type": FAILURE_TYPE,
                                "errors": errors,
                                "requestId": uuid.uuid4().hex[:22],
                            }
                        ],
                    }
                },
            )
        return Response(200, {})

    def _job_run(self, req: Request, args: dict[str, str]) -> Response:
        job = self.jobs.get(args["job"])
        if job is None:
            return _ads_failure(
                404,
                "NOT_FOUND",
                [_ads_error("offlineUserDataJobError", "INVALID_JOB_ID", "Job not found")],
                "Not found",
            )
        if job["status"] != "PENDING":
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "offlineUserDataJobError", "JOB_ALREADY_STARTED", "The job was already run."
                    )
                ],
                "Invalid argument",
            )
        if job["kind"] == "create" and self.config.require_consent and not job["consent"]:
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "offlineUserDataJobError",
                        "CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS",
                        "Consent is required on add jobs.",
                    )
                ],
                "Invalid argument",
            )
        job["status"] = "RUNNING"
        job["run_at"] = time.monotonic()
        if self.config.job_seconds <= 0:
            self._advance_jobs()
        return Response(
            200,
            {
                "name": f"customers/{args['cid']}/operations/{uuid.uuid4().hex}",
                "done": False,
                "metadata": {"resourceName": job["resourceName"]},
            },
        )

    def _advance_jobs(self) -> None:
        now = time.monotonic()
        for jid, job in self.jobs.items():
            if job["status"] == "RUNNING" and now - job["run_at"] >= self.config.job_seconds:
                members = self.ads_members[job["userList"]]
                for kind, row in job["ops"]:
                    if kind == "removeAll":
                        members.clear()
                    elif kind == "create":
                        members.add(row)
                    else:
                        members.discard(row)
                    if kind != "removeAll":
                        self.ads_acks.append((kind, jid, row))
                job["status"] = "SUCCESS"
                job["match_rate_range"] = self._match_rate_range(job["ops"])

    def _match_rate_range(self, ops: list[tuple[str, Any]]) -> str:
        """The OfflineUserDataJobMatchRateRange of a finished job: the share of its added
        members the emulator matches (UNKNOWN for a job that added nobody)."""
        added = [row for kind, row in ops if kind == "create"]
        if not added:
            return "UNKNOWN"
        matched = sum(
            1
            for row in added
            if int(hashlib.sha256(repr(row[0]).encode()).hexdigest()[:4], 16)
            < self.config.match_share * 0x10000
        )
        return match_rate_range(100.0 * matched / len(added))

    # --- GAQL -------------------------------------------------------------------------------
    def _search(self, req: Request, args: dict[str, str]) -> Response:
        query = str((req.body or {}).get("query") or "")
        self._advance_jobs()
        where = re.search(r"WHERE\s+(\w+)\.(\w+)\s*=\s*'([^']*)'", query, re.I)
        rows = []
        if re.search(r"FROM\s+user_list\b", query, re.I):
            for rn, u in self.user_lists.items():
                value = (
                    {"name": u["name"], "resource_name": rn}.get(where.group(2)) if where else None
                )
                if where is None or value == where.group(3):
                    n = len(self.ads_members.get(rn, set()))
                    rows.append(
                        {
                            "userList": {
                                "resourceName": rn,
                                "name": u["name"],
                                "id": rn.rsplit("/", 1)[1],
                                "sizeForDisplay": str(n),
                                "sizeForSearch": str(n),
                            }
                        }
                    )
        elif re.search(r"FROM\s+offline_user_data_job\b", query, re.I):
            for jid, job in self.jobs.items():
                if where is None or job["resourceName"] == where.group(3):
                    rows.append(
                        {
                            "offlineUserDataJob": {
                                "resourceName": job["resourceName"],
                                "id": jid,
                                "status": job["status"],
                                "failureReason": job["failure_reason"],
                                "operationMetadata": {
                                    "matchRateRange": job.get("match_rate_range", "UNKNOWN")
                                },
                            }
                        }
                    )
        else:
            return _ads_failure(
                400,
                "INVALID_ARGUMENT",
                [
                    _ads_error(
                        "queryError",
                        "PROHIBITED_RESOURCE_TYPE_IN_FROM_CLAUSE",
                        "The emulator serves user_list and offline_user_data_job only.",
                    )
                ],
                "Invalid query",
            )
        return Response(200, {"results": rows, "fieldMask": ""})


def main(argv: list[str] | None = None) -> int:
    """``python -m audiences_emulators.google --port 8768`` (Data Manager + Ads REST)."""
    import argparse
    import contextlib

    ap = argparse.ArgumentParser(prog="python -m audiences_emulators.google")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT)
    ap.add_argument("--token", action="append", help=f"accepted OAuth token ({SANDBOX_TOKEN})")
    ap.add_argument("--developer-token", action="append")
    ap.add_argument("--no-limits", action="store_true", help="no request or operation quotas")
    args = ap.parse_args(argv)
    cfg = GoogleConfig(
        tokens=set(args.token or [SANDBOX_TOKEN]),
        developer_tokens=set(args.developer_token or [SANDBOX_DEVELOPER_TOKEN]),
    )
    if args.no_limits:
        cfg.dm_per_minute = cfg.dm_per_day = cfg.ads_daily_operations = None
    emu = GoogleEmulator(args.host, args.port, cfg)
    print(f"google emulator on http://{args.host}:{args.port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emu.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
