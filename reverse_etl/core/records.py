"""What flows between the diff, the engine and a destination: records, row results, limits."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

Action = Literal["add", "change", "remove"]


# Records and row results are made once per row of a sync (a million rows: a million of
# each), so they are slotted and not frozen: a frozen dataclass sets each field through
# object.__setattr__, 2.5 times the cost of plain slots (docs/decisions/0018-sync-throughput.md).
# Nothing changes them after they are made, and nothing hashes them.


@dataclass(slots=True)
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


@dataclass(slots=True)
class RowResult:
    key: str
    outcome: Outcome
    dest_id: str | None = None
    error: str | None = None
    #: identifiers left out of an acknowledged row because they were malformed (e.g.
    #: ``("PHONE",)``): the member was sent with its other identifiers
    dropped: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Published limits of an API: batch size and rolling-window request rate."""

    batch_size: int
    requests_per_window: int | None
    window_seconds: float
