"""What a destination is (:class:`Destination`) and what it may also do (the capabilities).

A destination only knows its API: how to reach it, how to read its answers, how to prepare
the target (create the list), send one batch of upserts or removals and say, per row, what
happened. Retries, rate limiting, batch splitting and state commits live in the engine, so
every destination gets the same fault handling.

Optional capabilities are ``typing.Protocol``s the engine checks with ``isinstance``; a
destination has one by defining its methods (no registration, no ``getattr``):

- :class:`Reconciling`: read in-flight rows back after a crash (otherwise they are re-sent);
- :class:`Replacing`: swap a whole audience in one session on ``--full-resync``;
- :class:`Validating`: a server-side check that applies nothing (used by ``--dry-run``);
- :class:`EventsAfterSync`: events sent exactly once through the outbox after the batches;
- :class:`TriggerTarget` (not a sync capability: what a real-time trigger delivers to);
- :class:`ReportsRequestIds`: request ids the engine records for the platform's diagnostics;
- :class:`Encoding`: the CPU-heavy part of sending (normalise, hash) as a pure function of
  the rows, which the engine runs in worker processes ahead of the requests;
- :class:`CompletesRun`: told once a run has committed every row (the Redis cache marks
  itself loaded).

Most destinations are HTTP APIs (:class:`Destination`: the engine builds one rate-limited,
retrying ``HttpTransport`` from ``http_config`` and hands it to every call). A destination
that is not reached over HTTP (the Redis cache the real-time API reads) is a
:class:`DirectDestination`: it opens its own client and its calls take no transport. Both get
the same diff, state, write-ahead record, batch commits and crash points from the engine;
the capabilities that need a transport (reconcile, replace, validate, events) are HTTP only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

import requests

from reverse_etl.core.records import Limits, Record, RowResult


class Transport(Protocol):
    """What the engine hands to a destination to make HTTP calls (rate limited, retried)."""

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
        sign: Callable[[bytes], dict[str, str]] | None = None,
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
        ...

    def check_response(self, response: requests.Response) -> None:
        """Raise TransientError (retry), QuotaExhaustedError, BatchRejectedError (split the
        batch) or DestinationError for a response that is not a success (a configured
        :class:`reverse_etl.http.ResponseClassifier`'s ``check``)."""
        ...

    def account_key(self) -> str:
        """Which account of the platform this sync writes to (base URL plus portal /
        workspace / ad account ids), without any secret and without a request. The sync's
        state is bound to it: a different account never reuses the state."""
        ...

    def prepare(self, transport: Transport) -> None:
        """Make the target ready (e.g. create the list if missing). Idempotent."""
        ...

    def send_upserts(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Create or update ``records`` (actions add / change); one result per record.
        Raise BatchRejectedError when the API refuses the batch as a whole for its content."""
        ...

    def send_removals(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Remove ``records`` from what this tool manages (mirror mode); never delete
        anything it did not add."""
        ...


@runtime_checkable
class DirectDestination(Protocol):
    """A destination reached through its own client instead of HTTP (the Redis cache)."""

    name: str
    limits: Limits
    key_normalization: str

    def account_key(self) -> str:
        """As :meth:`Destination.account_key` (host and database, never a password)."""
        ...

    def connect(self) -> None:
        """Open the client, reading credentials from the environment now, and make the
        target ready. Idempotent. Raise CredentialsError / DestinationError / TransientError."""
        ...

    def disconnect(self) -> None:
        """Close the client (idempotent)."""
        ...

    def send_upserts(self, records: list[Record]) -> list[RowResult]:
        """As :meth:`Destination.send_upserts`, through the destination's own client."""
        ...

    def send_removals(self, records: list[Record]) -> list[RowResult]:
        """As :meth:`Destination.send_removals`, through the destination's own client."""
        ...


#: what the registry builds for a sync: an HTTP destination or a direct one
AnyDestination = Destination | DirectDestination


@runtime_checkable
class CompletesRun(Protocol):
    def completion_columns(self) -> tuple[str, ...]:
        """Model columns whose greatest value :meth:`complete` receives (e.g. ``as_of``)."""
        ...

    def complete(self, maxima: dict[str, str | None]) -> None:
        """Called once a run has committed every row of the model with no rejection (a
        run with nothing to send included), never after a failed or partial run. ``maxima``:
        the greatest value of each completion column, as text (None for an empty model)."""
        ...


@runtime_checkable
class Reconciling(Protocol):
    def reconcile(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """After a crash: read back in-flight ``records`` and finish them without re-sending
        anything the destination already acknowledged. ACKED = now complete, NOT_APPLIED =
        never applied (the engine sends it again through the normal diff)."""
        ...


@runtime_checkable
class Replacing(Protocol):
    """Swap the whole audience in one upload session (Meta's ``/usersreplace``). On
    ``--full-resync`` of a sync that opts in, the engine streams every row of the model
    through :meth:`replace` instead of sending adds and removals, and makes the
    acknowledged rows the sync's state only once the session has completed."""

    #: extra counters of the last replace (e.g. entries the API counted invalid)
    replace_counts: dict[str, int]

    def replaces_on_full_resync(self) -> bool:
        """True when this sync is configured to replace on ``--full-resync``."""
        ...

    def replace(
        self, transport: Transport, batches: Iterable[list[Record]], total: int | None = None
    ) -> Iterator[list[RowResult]]:
        """Upload ``batches`` as one replace session; yield each batch's results once the
        destination acknowledged it."""
        ...


@runtime_checkable
class Validating(Protocol):
    def validate(self, transport: Transport, records: list[Record]) -> list[RowResult]:
        """Ask the platform to check ``records`` without applying anything (Data Manager
        ``validateOnly``). REJECTED rows name the problem. Used by ``--dry-run``."""
        ...


@runtime_checkable
class ReportsRequestIds(Protocol):
    def drain_request_ids(self) -> list[str]:
        """Request ids the platform returned since the last call (the engine records them
        with the run, for the platform's diagnostics)."""
        ...


@runtime_checkable
class ReportsCounts(Protocol):
    def drain_reported_counts(self) -> dict[str, int]:
        """Counts the platform itself reported since the last call (Meta's ``num_received``
        / ``num_invalid_entries``, ...); the engine records them with the run."""
        ...


@dataclass(frozen=True)
class EventSpec:
    """Where a sync's events come from and how an unknown outcome is treated (ADR 0005)."""

    model: str
    change_column: str
    backfill: bool
    on_unknown: Literal["skip", "resend"]
    batch_size: int


@dataclass(frozen=True)
class SegmentEvent:
    """One segment entry or exit to deliver, with its stable id."""

    event_id: str
    user_id: str  # "" for an anonymous person (real-time triggers only)
    segment_key: str
    change: str  # "entered" | "exited"
    changed_at: datetime
    person_id: str = ""
    #: the sync or trigger the event belongs to
    source: str = ""


@runtime_checkable
class SendsEvents(Protocol):
    def send_events(self, transport: Transport, events: list[SegmentEvent]) -> list[RowResult]:
        """Send one request of events (``retry_unknown=False``: events are appended, never
        deduplicated); one result per event (key = event id). Raises OutcomeUnknownError
        when the request may have arrived, DestinationError when it certainly did not."""
        ...


@runtime_checkable
class EventsAfterSync(SendsEvents, Protocol):
    def event_spec(self) -> EventSpec | None:
        """The sync's event configuration, or None when it sends no events."""
        ...


@runtime_checkable
class TriggerTarget(SendsEvents, Protocol):
    """Where a real-time trigger delivers segment entries and exits (``triggers:`` in
    syncs.yml; audiences/realtime/triggers.py), through the same outbox protocol as the
    batch events. An HTTP API: the forwarder builds the engine's ``HttpTransport`` from
    :meth:`http_config`, :meth:`check_response` and ``limits``."""

    name: str
    limits: Limits
    #: "skip" (at most once) or "resend" (at least once) after an unknown outcome (ADR 0005)
    on_unknown: Literal["skip", "resend"]
    #: False: a change of an anonymous person (no user id) is skipped and counted
    takes_anonymous: bool

    def http_config(self) -> tuple[str, dict[str, str]]: ...

    def check_response(self, response: requests.Response) -> None: ...


@runtime_checkable
class Encoding(Protocol):
    """Sending split in two: :meth:`encode` (normalisation and hashing: pure, no I/O, its
    input and output picklable, so the engine can run it in worker processes while earlier
    batches are on the wire) and :meth:`send_encoded` (the requests). ``send_upserts(t, rs)``
    must equal ``send_encoded(t, rs, encode([r.fields for r in rs]))``."""

    def encode(self, rows: list[dict[str, str]]) -> list[Any]:
        """One encoded item per row of fields, in order."""
        ...

    def send_encoded(
        self, transport: Transport, records: list[Record], encoded: list[Any]
    ) -> list[RowResult]:
        """:meth:`Destination.send_upserts` with the rows already encoded."""
        ...
