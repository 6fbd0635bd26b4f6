"""The one response classifier: 2xx passes, everything else becomes one typed error.

Every destination configures a :class:`ResponseClassifier` instead of writing its own status
ladder. The platform-specific part is only *reading* the error body (a ``read_error``
function returning :class:`ErrorInfo`); the ladder that turns it into an action is here:

=====================================  ==========================================
signal                                  error raised (engine's answer)
=====================================  ==========================================
daily / long quota                      QuotaExhaustedError (stop; next run resumes)
429 or a platform throttle code         TransientError with Retry-After (retry)
5xx, 408 or a platform transient code   TransientError (retry with back-off)
401 / 403 or a platform auth code       DestinationError naming the credential
a platform fatal code (with a hint)     DestinationError with the hint
400 or a platform row error             BatchRejectedError (split to find the rows)
anything else                           DestinationError ("unexpected status")
=====================================  ==========================================
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import requests

from reverse_etl.core.errors import (
    BatchRejectedError,
    DestinationError,
    QuotaExhaustedError,
    TokenExpiredError,
    TransientError,
)
from reverse_etl.settings import redact


@dataclass(frozen=True)
class ErrorInfo:
    """What a platform's error body says, read by the destination's ``read_error``."""

    detail: str = ""  # the platform's words, e.g. "(80004) Too many calls"
    retry_after: float | None = None  # seconds, from a header or the body
    #: when a throttle says when its window ends by other means (Braze X-RateLimit-Reset)
    throttle_retry_after: float | None = None
    throttled: bool = False  # a rate-limit signal even without HTTP 429
    transient: bool = False  # the platform says retrying helps
    quota: bool = False  # a daily quota is used up: stop the run
    auth: bool = False  # credentials refused even without 401 / 403
    token_expired: bool = False  # a short-lived token refused: renew it and send again
    row_error: bool = False  # the content of the batch was refused
    fatal_hint: str | None = None  # a known non-retryable error and what to do about it


def json_body(resp: requests.Response) -> dict[str, Any]:
    """The response's JSON object, or ``{}`` when it has none."""
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def retry_after_header(resp: requests.Response) -> float | None:
    """``Retry-After`` in seconds (a number or an HTTP date), None when absent."""
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, parsed.timestamp() - time.time())


def default_read_error(resp: requests.Response) -> ErrorInfo:
    message = json_body(resp).get("message") or resp.reason or ""
    return ErrorInfo(detail=str(message), retry_after=retry_after_header(resp))


@dataclass(frozen=True)
class ResponseClassifier:
    """The status ladder, configured per destination."""

    product: str  # "HubSpot", "Braze", ... (starts every message)
    credentials_hint: str  # what to check when the credentials are refused
    read_error: Callable[[requests.Response], ErrorInfo] = default_read_error
    #: a throttle whose announced wait is longer than this is a quota: the run stops
    quota_after_seconds: float = 900.0
    quota_hint: str = "the sync resumes on the next run"
    auth_statuses: tuple[int, ...] = (401, 403)
    batch_statuses: tuple[int, ...] = (400,)
    #: platforms that answer HTTP 200 with the error in the body (Marketo's ``success:
    #: false``): reads a 2xx answer, None when it is a success
    read_envelope: Callable[[requests.Response], ErrorInfo | None] | None = None

    def where(self, resp: requests.Response) -> str:
        method = resp.request.method if resp.request is not None else ""
        return redact(f"{self.product} {method} {resp.url.split('?')[0]}")

    def check(self, resp: requests.Response) -> None:
        """Return for a success; raise the error that says what the engine does next."""
        status = resp.status_code
        if 200 <= status < 300:
            envelope = self.read_envelope(resp) if self.read_envelope else None
            if envelope is None:
                return
            self._raise(resp, status, envelope)
        self._raise(resp, status, self.read_error(resp))

    def _raise(self, resp: requests.Response, status: int, info: ErrorInfo) -> NoReturn:
        text = f"{self.where(resp)}: {status} {redact(info.detail)}".rstrip()
        if info.token_expired:
            raise TokenExpiredError(f"{text} (access token refused)")
        wait = info.retry_after
        if info.quota:
            raise QuotaExhaustedError(f"{text}; {self.quota_hint}")
        if status == 429 or info.throttled:
            if info.throttle_retry_after is not None:
                wait = info.throttle_retry_after
            if wait is not None and wait > self.quota_after_seconds:
                raise QuotaExhaustedError(
                    f"{text}; access returns in {wait / 60:.0f} min: {self.quota_hint}"
                )
            raise TransientError(f"{text} (rate limited)", retry_after=wait, status=status)
        if status >= 500 or status == 408 or info.transient:
            raise TransientError(text, retry_after=wait, status=status)
        if status in self.auth_statuses or info.auth:
            raise DestinationError(
                f"{text}; {self.product} refused the credentials: {self.credentials_hint}"
            )
        if info.fatal_hint:
            raise DestinationError(f"{text}; {info.fatal_hint}")
        if status in self.batch_statuses or info.row_error:
            raise BatchRejectedError(f"{text} (rejected)", status)
        if 200 <= status < 300:
            raise DestinationError(f"{text} (refused)")
        raise DestinationError(f"{text} (unexpected status)")
