"""The one small interface every destination implements.

A destination only knows its API: how to prepare the target (create the list), send one
batch of upserts or removals and say, per row, what happened, and read back in-flight rows
after a crash. Retries, rate limiting, batch splitting and state commits live in the engine
(:mod:`reverse_etl.engine`, :mod:`reverse_etl.retry`, :mod:`reverse_etl.ratelimit`), so every
destination gets the same fault handling.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import requests

from reverse_etl.config import SyncConfig

Action = Literal["add", "change", "remove"]


@dataclass(frozen=True)
class Record:
    """One row of the diff, as the destination receives it.

    ``fields`` maps destination field -> text value ('' where the model has NULL).
    ``dest_id`` is the destination's id recorded in state (None for new rows).
    """

    key: str
    action: Action
    fingerprint: str | None
    fields: dict[str, str] = field(default_factory=dict)
    dest_id: str | None = None


class Outcome(enum.Enum):
    ACKED = "acked"  # the destination confirmed the row (dest_id set for upserts)
    REJECTED = "rejected"  # the destination refused this row; error says why
    NOT_APPLIED = "not_applied"  # (reconcile only) the row never reached the destination


@dataclass(frozen=True)
class RowResult:
    key: str
    outcome: Outcome
    dest_id: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Limits:
    """Published limits of an API: batch size and rolling-window request rate."""

    batch_size: int
    requests_per_window: int | None
    window_seconds: float


class Transport(Protocol):
    """What the engine hands to a destination to make HTTP calls (rate limited, retried)."""

    def request(
        self, method: str, path: str, *, json_body=None, params=None, expect: tuple[int, ...] = ()
    ) -> requests.Response: ...


@runtime_checkable
class Destination(Protocol):
    name: str
    limits: Limits
    #: how the identity column is normalised in SQL before diffing: "none" or "lower_trim"
    key_normalization: str

    def http_config(self) -> tuple[str, dict[str, str]]:
        """Base URL and auth headers, read from the environment only when sending.
        Raise CredentialsError when a credential is missing."""

    def check_response(self, response: requests.Response) -> None:
        """Raise TransientError (retry), QuotaExhaustedError, BatchRejectedError (split the
        batch) or DestinationError for a response that is not a success."""

    def prepare(self, transport: Transport) -> None:
        """Make the target ready (e.g. create the list if missing). Idempotent."""

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Create or update ``records`` (actions add / change); one result per record.
        Raise BatchRejectedError when the API refuses the batch as a whole for its content."""

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Remove ``records`` from what this tool manages (mirror mode); never delete
        anything it did not add."""

    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """After a crash: read back in-flight ``records`` and finish them without re-sending
        anything the destination already acknowledged. ACKED = now complete, NOT_APPLIED =
        never applied (the engine sends it again through the normal diff)."""


@runtime_checkable
class ReplacingDestination(Protocol):
    """Optional capability: swap the whole audience in one upload session (Meta's
    ``/usersreplace``). On ``--full-resync`` of a sync that opts in, the engine streams every
    row of the model through :meth:`replace` instead of sending adds and removals, and
    makes the acknowledged rows the sync's state only once the session has completed."""

    #: extra counters of the last replace (e.g. entries the API counted invalid)
    replace_counts: dict[str, int]

    def replaces_on_full_resync(self) -> bool:
        """True when this sync is configured to replace on ``--full-resync``."""

    def replace(
        self, transport: Transport, batches: Iterable[list[Record]], total: int | None = None
    ) -> Iterator[list[RowResult]]:
        """Upload ``batches`` as one replace session; yield each batch's results once the
        destination acknowledged it. The members not uploaded are gone when the last batch
        is acknowledged."""


def build_destination(sync: SyncConfig) -> Destination:
    if sync.destination == "hubspot":
        from reverse_etl.destinations.hubspot import HubSpotDestination

        return HubSpotDestination.from_sync(sync)
    if sync.destination == "braze":
        from reverse_etl.destinations.braze import BrazeDestination

        return BrazeDestination.from_sync(sync)
    if sync.destination == "meta":
        from reverse_etl.destinations.meta import MetaDestination

        return MetaDestination.from_sync(sync)
    if sync.destination == "google_data_manager":
        from reverse_etl.destinations.google_data_manager import GoogleDataManagerDestination

        return GoogleDataManagerDestination.from_sync(sync)
    if sync.destination == "google_ads":
        from reverse_etl.destinations.google_ads import GoogleAdsDestination

        return GoogleAdsDestination.from_sync(sync)
    if sync.destination == "marketo":
        from reverse_etl.destinations.marketo import MarketoDestination

        return MarketoDestination.from_sync(sync)
    raise ValueError(f"unknown destination {sync.destination!r}")
