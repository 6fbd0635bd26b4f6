"""What the two Google destinations (Data Manager, Google Ads) share: the member fields
they accept and the reading of Google's error envelope into the one response classifier."""

from __future__ import annotations

import re
from typing import Any

import requests

from reverse_etl.core.errors import ConfigError
from reverse_etl.core.sync import SyncConfig
from reverse_etl.http.classify import ErrorInfo, ResponseClassifier, json_body

FIELDS = {
    "email",
    "phone",
    "first_name",
    "last_name",
    "country",
    "postal_code",
    "ad_user_data",
    "ad_personalization",
}


def check_mapping(sync: SyncConfig, api: str) -> None:
    """Both Google APIs take the same member fields; name the ones ``api`` does not know."""
    unknown = sorted(set(sync.mapping) - FIELDS)
    if unknown:
        raise ConfigError(
            f"sync {sync.name!r}, field 'mapping': unknown {api} "
            f"field(s) {', '.join(unknown)} (use {', '.join(sorted(FIELDS))})"
        )


# --- Google error envelope (shared with the Google Ads destination) ---------------------------
def google_error(resp: requests.Response) -> dict[str, Any]:
    err = json_body(resp).get("error")
    return err if isinstance(err, dict) else {}


def _seconds(value: Any) -> float | None:
    if isinstance(value, dict):  # {"seconds": "3", "nanos": 0}
        return float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
    m = re.match(r"^\s*([\d.]+)s\s*$", str(value or ""))
    return float(m.group(1)) if m else None


def retry_delay(err: dict[str, Any]) -> float | None:
    """``RetryInfo.retryDelay`` or ``QuotaErrorDetails.retryDelay`` anywhere in the details."""
    stack: list[Any] = list(err.get("details") or [])
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if k == "retryDelay":
                    s = _seconds(v)
                    if s is not None:
                        return s
                elif isinstance(v, (dict, list)):
                    stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)
    return None


def error_codes(err: dict[str, Any]) -> list[str]:
    """Every ``errorCode`` value in a GoogleAdsFailure (e.g. CONCURRENT_MODIFICATION)."""
    out: list[str] = []
    for d in err.get("details") or []:
        for e in (d or {}).get("errors") or []:
            out.extend(str(v) for v in ((e or {}).get("errorCode") or {}).values())
    return out


def google_classifier(
    product: str, token_env: str, retryable: tuple[str, ...] = ()
) -> ResponseClassifier:
    """The classifier of a Google API: ``RESOURCE_EXHAUSTED`` is a throttle (a quota when
    the retry delay is long), the ``errorCode``s in ``retryable`` are transient."""

    def read_error(resp: requests.Response) -> ErrorInfo:
        err = google_error(resp)
        codes = error_codes(err)
        detail = f"{err.get('status') or ''} {err.get('message') or ''}".strip()
        if codes:
            detail += f" [{', '.join(codes)}]"
        return ErrorInfo(
            detail=detail,
            retry_after=retry_delay(err),
            throttled=err.get("status") == "RESOURCE_EXHAUSTED",
            transient=any(c in retryable for c in codes),
        )

    return ResponseClassifier(
        product=product,
        credentials_hint=f"check {token_env} (an OAuth access token with the right scope) and "
        "the account ids in syncs.yml",
        read_error=read_error,
    )
