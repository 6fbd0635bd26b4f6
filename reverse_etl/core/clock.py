"""The engine's clock: naive UTC timestamps, as stored in the state tables."""

from __future__ import annotations

from datetime import UTC, datetime


def now() -> datetime:
    """The current time in UTC without a time zone (what the warehouse columns hold)."""
    return datetime.now(UTC).replace(tzinfo=None)
