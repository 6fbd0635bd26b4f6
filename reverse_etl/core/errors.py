"""Typed exceptions. Every message is meant to be read by the person running the sync.

Messages never contain credentials: destinations build them from API responses, and
:func:`reverse_etl.settings.redact` is applied to anything that could echo a request back.
"""

from __future__ import annotations


class ReverseEtlError(Exception):
    """Base class for every error this package raises on purpose."""

    exit_code = 1


class ConfigError(ReverseEtlError):
    """syncs.yml is missing, unreadable or invalid."""


class ManifestError(ReverseEtlError):
    """A dbt model cannot be resolved through target/manifest.json."""


class GateError(ReverseEtlError):
    """The model's last dbt build failed a test or errored: syncing it is refused."""

    exit_code = 4


class SafetyBrakeError(ReverseEtlError):
    """A mirror sync would remove more members than max_removal_pct allows."""

    exit_code = 4


class WarehouseError(ReverseEtlError):
    """The warehouse could not be reached or a query failed."""


class ModelDataError(ReverseEtlError):
    """The model's rows break an assumption of the sync (duplicate identities, missing columns)."""


class CredentialsError(ReverseEtlError):
    """A required environment variable with a credential is missing."""


class StateAccountError(ReverseEtlError):
    """The sync's state was written for another destination account (base URL, portal,
    workspace, ad account): sending on would trust state that says nothing about this one."""

    exit_code = 4


class DestinationError(ReverseEtlError):
    """The destination refused a request in a way retrying cannot fix."""


class QuotaExhaustedError(DestinationError):
    """The destination's daily quota is used up; the sync resumes on the next run."""


class TokenExpiredError(DestinationError):
    """The platform refused a short-lived access token the destination obtained itself
    (Marketo 600 / 601 / 602): get a new token and send the request again."""


class BatchRejectedError(DestinationError):
    """The destination rejected a whole batch because of its content (e.g. HTTP 400).

    The engine answers by splitting the batch to isolate the offending rows.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class TransientError(DestinationError):
    """Retryable failure (429, 5xx, connection error, timeout)."""

    def __init__(
        self, message: str, retry_after: float | None = None, status: int | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status
