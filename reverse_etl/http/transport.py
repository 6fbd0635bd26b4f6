"""The one HTTP transport every destination (and the Braze event outbox) sends through:
rate limiting, retries with exponential back-off and jitter (tenacity) on 429, 5xx,
connection errors and timeouts, honouring ``Retry-After``. Destinations only say how to read
a response: a :class:`reverse_etl.http.classify.ResponseClassifier`'s ``check``.

A request that is not idempotent (``retry_unknown=False``: Braze events are appended, never
deduplicated) is retried only when the server certainly processed nothing (an HTTP 429 / 5xx
answer, a connection that never opened); a timeout or a connection lost after sending raises
:class:`OutcomeUnknownError` instead."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from reverse_etl import settings
from reverse_etl.core.errors import DestinationError, TransientError
from reverse_etl.http.ratelimit import Limiter
from reverse_etl.settings import redact

_JSON_HEADERS = {"Content-Type": "application/json"}

log = logging.getLogger("reverse_etl")

#: extra headers computed from the exact body bytes of one attempt (a request signature)
Signer = Callable[[bytes], dict[str, str]]


class OutcomeUnknownError(DestinationError):
    """The request may or may not have been processed (timeout, connection lost after
    sending). Raised instead of retrying for requests sent with ``retry_unknown=False``."""


def _certainly_not_sent(exc: requests.ConnectionError) -> bool:
    if isinstance(exc, requests.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "Connection refused" in text


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 0.5
    max_wait_seconds: float = 30.0
    timeout_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        s = settings.load()
        return cls(
            max_attempts=s.retry_max_attempts,
            base_seconds=s.retry_base_seconds,
            max_wait_seconds=s.retry_max_wait,
            timeout_seconds=s.http_timeout,
        )


def backoff_wait(policy: RetryPolicy, rng: random.Random) -> Callable[[RetryCallState], float]:
    """Full-jitter exponential back-off; a server's Retry-After is a floor."""

    def wait(state: RetryCallState) -> float:
        exp = min(policy.max_wait_seconds, policy.base_seconds * (2 ** (state.attempt_number - 1)))
        delay = rng.uniform(0, exp)
        exc = state.outcome.exception() if state.outcome else None
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            # The server said when: wait that long plus a little jitter so clients spread out.
            delay = retry_after + rng.uniform(0, min(1.0, 0.1 * retry_after + 0.05))
        return delay

    return wait


class HttpTransport:
    """requests.Session + limiter + retries. Counts requests and retries for run history."""

    def __init__(
        self,
        base_url: str,
        headers: dict[str, str],
        check_response: Callable[[requests.Response], None],
        limiter: Limiter,
        policy: RetryPolicy | None = None,
        seed: int | None = None,
        on_response: Callable[[], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.session = requests.Session()
        self.session.headers.update(headers)
        self.check_response = check_response
        self.limiter = limiter
        self.policy = policy or RetryPolicy.from_env()
        self.rng = random.Random(seed)
        self.requests = 0
        self.retries = 0
        self.on_response = on_response

    def _once(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        params: Any,
        expect: tuple[int, ...],
        retry_unknown: bool,
        sign: Signer | None = None,
    ) -> requests.Response:
        self.limiter.acquire()
        self.requests += 1
        sent = dict(_JSON_HEADERS) if body is not None else {}
        sent.update(headers or {})
        if sign is not None:
            sent.update(sign(body or b""))
        try:
            resp = self.session.request(
                method,
                url,
                data=body,
                headers=sent or None,
                params=params,
                timeout=self.policy.timeout_seconds,
            )
        except requests.ConnectionError as exc:
            # (ConnectTimeout is both a ConnectionError and a Timeout: nothing was sent)
            text = f"{method} {redact(url)}: connection failed ({type(exc).__name__})"
            if not retry_unknown and not _certainly_not_sent(exc):
                raise OutcomeUnknownError(text) from None
            raise TransientError(text) from None
        except requests.Timeout:
            text = f"{method} {redact(url)}: no answer within {self.policy.timeout_seconds}s"
            if not retry_unknown:
                raise OutcomeUnknownError(text) from None
            raise TransientError(text) from None
        if self.on_response:
            self.on_response()
        if resp.status_code not in expect:
            self.check_response(resp)
        return resp

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Any = None,
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (),
        retry_unknown: bool = True,
        sign: Signer | None = None,
    ) -> requests.Response:
        """Send one request (rate limited, retried). Statuses in ``expect`` are returned
        as is instead of being turned into errors (e.g. 404 on a lookup). With
        ``retry_unknown=False`` an unknown outcome raises :class:`OutcomeUnknownError`.
        ``headers`` are added to the session's for this request only (a token that changes
        during a run). ``sign`` gets the exact body bytes on every attempt and returns extra
        headers (a webhook signature over a fresh timestamp)."""
        url = self.base_url + path

        def before_sleep(state: RetryCallState) -> None:
            self.retries += 1
            exc = state.outcome.exception() if state.outcome else None
            log.info("retrying %s %s after: %s", method, path, redact(str(exc)))

        retrying = Retrying(
            stop=stop_after_attempt(self.policy.max_attempts),
            wait=backoff_wait(self.policy, self.rng),
            retry=retry_if_exception_type(TransientError),
            before_sleep=before_sleep,
            reraise=True,
        )
        # encoded once (orjson: a 10,000-member upload is ~8 MB), re-sent as is on a retry
        body = None if json_body is None else orjson.dumps(json_body)
        try:
            return retrying(
                self._once, method, url, body, headers, params, expect, retry_unknown, sign
            )
        except TransientError as exc:
            raise DestinationError(
                f"{redact(str(exc))} (gave up after {self.policy.max_attempts} attempts; "
                "the next run resumes where this one stopped)"
            ) from None

    def close(self) -> None:
        self.session.close()
