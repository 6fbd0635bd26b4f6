"""HTTP: one transport (rate limit + retries) and one response classifier."""

from reverse_etl.http.classify import ErrorInfo, ResponseClassifier, json_body, retry_after_header
from reverse_etl.http.ratelimit import Limiter, NoLimiter, RollingWindowLimiter, limiter_for
from reverse_etl.http.transport import HttpTransport, OutcomeUnknownError, RetryPolicy

__all__ = [
    "ErrorInfo",
    "HttpTransport",
    "Limiter",
    "NoLimiter",
    "OutcomeUnknownError",
    "ResponseClassifier",
    "RetryPolicy",
    "RollingWindowLimiter",
    "json_body",
    "limiter_for",
    "retry_after_header",
]
