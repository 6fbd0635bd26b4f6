"""Google Customer Match through the Google Ads API (REST), the older flow kept for developer
tokens Google still allowlists (destination-apis.md §4.0-4.7). New integrations use
:mod:`reverse_etl.destinations.google_data_manager`.

Per batch: ``offlineUserDataJobs:create`` (with consent on add jobs) -> ``:addOperations``
(``enablePartialFailure``: failed operations become rejections) -> ``:run``. A batch is
acknowledged once its job runs; with ``options.wait_for_jobs`` the sync also polls the job
with GAQL until ``SUCCESS`` (Google takes 10 minutes to 24 hours). One job per batch keeps
each batch independent for crash recovery (a job created but never run is inert; re-sending
a batch is harmless, membership is a set). Adds and removals never share a job
(``CONFLICTING_OPERATION``). ``CONCURRENT_MODIFICATION`` is retried like a 5xx.

Env: ``GOOGLE_ACCESS_TOKEN`` (OAuth, adwords scope), ``GOOGLE_ADS_DEVELOPER_TOKEN``,
``GOOGLE_ADS_LOGIN_CUSTOMER_ID`` (manager account, optional), ``GOOGLE_ADS_CUSTOMER_ID``
(or ``options.customer_id``), ``GOOGLE_ADS_BASE_URL`` (default the public API).
"""

from __future__ import annotations

import time
from typing import Any

import requests
from pydantic import BaseModel, ConfigDict, Field

from reverse_etl import identifiers as ids
from reverse_etl import settings
from reverse_etl.core.errors import CredentialsError, DestinationError
from reverse_etl.core.records import Outcome, Record, RowResult
from reverse_etl.core.sync import SyncConfig
from reverse_etl.destinations.capabilities import Transport
from reverse_etl.destinations.common import account_url, limits_for, parse_options, reveal
from reverse_etl.destinations.google_common import (
    check_mapping,
    error_codes,
    google_classifier,
    google_error,
)
from reverse_etl.destinations.spec import DestinationSpec
from reverse_etl.http.classify import json_body

TOKEN_ENV = "GOOGLE_ACCESS_TOKEN"
DEV_TOKEN_ENV = "GOOGLE_ADS_DEVELOPER_TOKEN"
LOGIN_ENV = "GOOGLE_ADS_LOGIN_CUSTOMER_ID"
CUSTOMER_ENV = "GOOGLE_ADS_CUSTOMER_ID"
URL_ENV = "GOOGLE_ADS_BASE_URL"
DEFAULT_URL = "https://googleads.googleapis.com"

# Published limits (destination-apis.md 4.4). One place to update them.
USERS_PER_REQUEST = 10_000  # Google's recommendation; the hard cap is 100,000 identifiers
RETRYABLE = ("CONCURRENT_MODIFICATION", "RESOURCE_TEMPORARILY_EXHAUSTED", "INTERNAL_ERROR")
CLASSIFIER = google_classifier("Google Ads", TOKEN_ENV, RETRYABLE)

ADS_IDENTIFIER_KEYS = ids.GoogleIdentifierKeys(
    email="hashedEmail",
    phone="hashedPhoneNumber",
    address="addressInfo",
    given_name="hashedFirstName",
    family_name="hashedLastName",
    region="countryCode",
    api="ads",
)

#: a Customer Match list needs at least 100 members to serve (Google Ads / Data Manager)
MIN_AUDIENCE_SIZE = 100


#: Google Ads' OfflineUserDataJobMatchRateRange: (lowest, highest) percentage per range
MATCH_RATE_BOUNDS: dict[str, tuple[int, int]] = {
    "MATCH_RANGE_LESS_THAN_20": (0, 19),
    "MATCH_RANGE_20_TO_30": (20, 30),
    "MATCH_RANGE_31_TO_40": (31, 40),
    "MATCH_RANGE_41_TO_50": (41, 50),
    "MATCH_RANGE_51_TO_60": (51, 60),
    "MATCH_RANGE_61_TO_70": (61, 70),
    "MATCH_RANGE_71_TO_80": (71, 80),
    "MATCH_RANGE_81_TO_90": (81, 90),
    "MATCH_RANGE_91_TO_100": (91, 100),
}


class GoogleAdsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")
    user_list_id: str | None = Field(default=None, pattern=r"^\d{1,20}$")
    api_version: str = Field(default="v24", pattern=r"^v\d+$")
    membership_life_span: int = Field(default=540, ge=0, le=540)
    wait_for_jobs: bool = False
    poll_seconds: float = 60.0
    poll_timeout_seconds: float = 1800.0
    batch_size: int = Field(default=USERS_PER_REQUEST, ge=1, le=USERS_PER_REQUEST)


def _flatten(identifiers: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for ident in identifiers:
        for k, v in ident.items():
            if isinstance(v, dict):
                parts.extend(f"{k}.{ak}={av}" for ak, av in sorted(v.items()))
            else:
                parts.append(f"{k}={v}")
    return ";".join(parts)


def _unflatten(dest_id: str | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    nested: dict[str, dict[str, str]] = {}
    for part in (dest_id or "").split(";"):
        k, _, v = part.partition("=")
        if not v:
            continue
        if "." in k:
            outer, inner = k.split(".", 1)
            nested.setdefault(outer, {})[inner] = v
        else:
            out.append({k: v})
    out.extend({k: v} for k, v in nested.items())
    return out


class GoogleAdsDestination:
    name = "google_ads"
    key_normalization = "none"

    def __init__(self, sync: SyncConfig, options: GoogleAdsOptions):
        self.sync = sync
        self.options = options
        check_mapping(sync, "Customer Match")
        # Basic access: 15,000 operations a day, each addOperations counts once: no burst limit.
        self.limits = limits_for(sync, options.batch_size, None, 60.0)
        self.user_list: str | None = None
        self.customer: str | None = None
        self.jobs: list[str] = []
        self.match_rates: list[tuple[int, int]] = []  # (low, high) % of finished add jobs

    @classmethod
    def from_sync(cls, sync: SyncConfig) -> GoogleAdsDestination:
        return cls(sync, parse_options(GoogleAdsOptions, sync))

    # --- HTTP ---------------------------------------------------------------------------------
    def http_config(self) -> tuple[str, dict[str, str]]:
        token, dev = reveal(settings.secret(TOKEN_ENV)), reveal(settings.secret(DEV_TOKEN_ENV))
        for name, value in ((TOKEN_ENV, token), (DEV_TOKEN_ENV, dev)):
            if not value:
                raise CredentialsError(
                    f"{name} is not set: the Google Ads API needs an OAuth access token "
                    f"({TOKEN_ENV}, adwords scope) and an allowlisted developer token "
                    f"({DEV_TOKEN_ENV}); new integrations should use google_data_manager"
                )
        self.customer = (self.options.customer_id or settings.value(CUSTOMER_ENV) or "").replace(
            "-", ""
        )
        if not self.customer:
            raise CredentialsError(f"set options.customer_id or {CUSTOMER_ENV} (digits only)")
        headers = {
            "Authorization": f"Bearer {token}",
            "developer-token": str(dev),
            "Content-Type": "application/json",
        }
        login = (settings.value(LOGIN_ENV) or "").replace("-", "")
        if login:
            headers["login-customer-id"] = login
        base = (settings.value(URL_ENV) or DEFAULT_URL).rstrip("/")
        return f"{base}/{self.options.api_version}", headers

    def check_response(self, resp: requests.Response) -> None:
        CLASSIFIER.check(resp)

    def account_key(self) -> str:
        customer = (self.options.customer_id or settings.value(CUSTOMER_ENV) or "").replace("-", "")
        login = (settings.value(LOGIN_ENV) or "").replace("-", "")
        base = account_url(settings.value(URL_ENV) or DEFAULT_URL)
        return f"{base} customer={customer or '-'} login={login or '-'}"

    def _c(self, path: str) -> str:
        return f"/customers/{self.customer}{path}"

    def _search(self, transport: Transport, query: str) -> list[dict[str, Any]]:
        return (
            json_body(
                transport.request("POST", self._c("/googleAds:search"), json_body={"query": query})
            ).get("results")
            or []
        )

    # --- user list ----------------------------------------------------------------------------
    def prepare(self, transport: Transport) -> None:
        if self.options.user_list_id:
            self.user_list = f"customers/{self.customer}/userLists/{self.options.user_list_id}"
            return
        name = self.sync.list or self.sync.name
        esc = name.replace("\\", "\\\\").replace("'", "\\'")
        rows = self._search(
            transport,
            "SELECT user_list.resource_name, user_list.name FROM "
            f"user_list WHERE user_list.name = '{esc}'",
        )
        if rows:
            self.user_list = rows[0]["userList"]["resourceName"]
            return
        body = {
            "operations": [
                {
                    "create": {
                        "name": name,
                        "description": "Synced from the warehouse by audiences (reverse_etl)",
                        "membershipLifeSpan": self.options.membership_life_span,
                        "crmBasedUserList": {"uploadKeyType": "CONTACT_INFO"},
                    }
                }
            ]
        }
        res = json_body(transport.request("POST", self._c("/userLists:mutate"), json_body=body))
        self.user_list = res["results"][0]["resourceName"]

    # --- operations ---------------------------------------------------------------------------
    def identifiers(self, f: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        """(userIdentifiers, problem). The problem names the field, never its value."""
        out, problem = ids.google_user_identifiers(f, ADS_IDENTIFIER_KEYS)
        return out, problem

    def _job(
        self, transport: Transport, kind: str, items: list[tuple[Record, list[dict]]]
    ) -> dict[str, RowResult]:
        meta: dict[str, Any] = {"userList": self.user_list}
        if kind == "create":
            meta["consent"] = {"adUserData": "GRANTED", "adPersonalization": "GRANTED"}
        job = json_body(
            transport.request(
                "POST",
                self._c("/offlineUserDataJobs:create"),
                json_body={
                    "job": {
                        "type": "CUSTOMER_MATCH_USER_LIST",
                        "customerMatchUserListMetadata": meta,
                    }
                },
            )
        )["resourceName"]
        self.jobs.append(job)
        job_path = "/" + job.split("/", 2)[2]
        ops = [{kind: {"userIdentifiers": idents}} for _, idents in items]
        answer = json_body(
            transport.request(
                "POST",
                self._c(job_path + ":addOperations"),
                json_body={"enablePartialFailure": True, "operations": ops},
            )
        )
        failed: dict[int, str] = {}
        for d in ((answer.get("partialFailureError") or {}).get("details")) or []:
            for e in (d or {}).get("errors") or []:
                path = ((e.get("location") or {}).get("fieldPathElements")) or []
                if path and path[0].get("fieldName") == "operations" and "index" in path[0]:
                    code = ", ".join(str(v) for v in (e.get("errorCode") or {}).values())
                    failed[int(path[0]["index"])] = f"{code}: {e.get('message', '')}"
        resp = transport.request(
            "POST", self._c(job_path + ":run"), json_body={"validateOnly": False}, expect=(400,)
        )
        if resp.status_code == 400 and "JOB_ALREADY_STARTED" not in error_codes(google_error(resp)):
            self.check_response(resp)
        if self.options.wait_for_jobs:
            self._wait(transport, job)
        out = {}
        for i, (r, idents) in enumerate(items):
            if i in failed:
                out[r.key] = RowResult(r.key, Outcome.REJECTED, error=failed[i])
            else:
                out[r.key] = RowResult(
                    r.key,
                    Outcome.ACKED,
                    dest_id=_flatten(idents),
                    dropped=ids.google_dropped(r.fields, idents, ADS_IDENTIFIER_KEYS)
                    if kind == "create"
                    else (),
                )
        return out

    def _wait(self, transport: Transport, job: str) -> None:
        deadline = time.monotonic() + self.options.poll_timeout_seconds
        query = (
            "SELECT offline_user_data_job.id, offline_user_data_job.status, "
            "offline_user_data_job.failure_reason, "
            "offline_user_data_job.operation_metadata.match_rate_range FROM offline_user_data_job "
            f"WHERE offline_user_data_job.resource_name = '{job}'"
        )
        while True:
            rows = self._search(transport, query)
            status = rows[0]["offlineUserDataJob"]["status"] if rows else "UNKNOWN"
            if status == "SUCCESS":
                metadata = rows[0]["offlineUserDataJob"].get("operationMetadata") or {}
                bounds = MATCH_RATE_BOUNDS.get(str(metadata.get("matchRateRange")))
                if bounds is not None:
                    self.match_rates.append(bounds)
                return
            if status == "FAILED":
                reason = rows[0]["offlineUserDataJob"].get("failureReason")
                raise DestinationError(f"Google Ads job {job} failed ({reason})")
            if time.monotonic() > deadline:
                raise DestinationError(
                    f"Google Ads job {job} still {status} after "
                    f"{self.options.poll_timeout_seconds:.0f}s"
                )
            time.sleep(self.options.poll_seconds)

    def drain_reported_counts(self) -> dict[str, int]:
        """The match rate range Google reported for the add jobs this sync waited for since
        the last call, as whole percentages: the lowest job's lower bound and the highest
        job's upper bound (capability ``ReportsCounts``; only with ``wait_for_jobs``)."""
        rates, self.match_rates = self.match_rates, []
        if not rates:
            return {}
        return {
            "match_rate_low_pct": min(low for low, _ in rates),
            "match_rate_high_pct": max(high for _, high in rates),
        }

    def encode(self, rows: list[dict[str, str]]) -> list[tuple[list[dict[str, Any]], str | None]]:
        """(userIdentifiers, problem) per row of fields (capability ``Encoding``)."""
        return [self.identifiers(f) for f in rows]

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return self.send_encoded(transport, records, self.encode([r.fields for r in records]))

    def send_encoded(
        self,
        transport: Transport,
        records: list[Record],
        encoded: list[tuple[list[dict[str, Any]], str | None]],
    ) -> list[RowResult]:
        results: dict[str, RowResult] = {}
        items, stale = [], []
        for r, (idents, why) in zip(records, encoded, strict=True):
            if why:
                results[r.key] = RowResult(r.key, Outcome.REJECTED, error=why)
                continue
            items.append((r, idents))
            if r.dest_id and r.dest_id != _flatten(idents):
                stale.append((r, _unflatten(r.dest_id)))
        if items:
            results.update(self._job(transport, "create", items))
        if stale:
            self._job(transport, "remove", stale)
        return [results[r.key] for r in records]

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        items = [(r, _unflatten(r.dest_id)) for r in records if _unflatten(r.dest_id)]
        results = self._job(transport, "remove", items) if items else {}
        return [results.get(r.key) or RowResult(r.key, Outcome.ACKED) for r in records]

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        return [RowResult(r.key, Outcome.NOT_APPLIED) for r in records]


SPEC = DestinationSpec(
    name="google_ads",
    options=GoogleAdsOptions,
    secret_env=(TOKEN_ENV, DEV_TOKEN_ENV),
    env=(URL_ENV, CUSTOMER_ENV, LOGIN_ENV),
    build=GoogleAdsDestination.from_sync,
    mirror_needs_list=True,
    min_audience_size=MIN_AUDIENCE_SIZE,
)
