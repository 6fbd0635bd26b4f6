"""Typed inputs and outputs of the generator."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

TABLE_NAMES = ("events", "orders", "order_items", "customers", "email_events")


@dataclass(frozen=True)
class GenerationConfig:
    """What to generate.

    db_path: DuckDB file (created if missing). events: target row count of raw.events for
    this call (±2 %). seed: same seed and arguments give identical tables. as_of: UTC
    (naive) instant; nothing occurs after it. append: add a later slice to existing data.
    days: event history length before as_of (orders go back two years). schema: target
    schema (created if missing).
    """

    db_path: Path
    events: int
    seed: int
    as_of: datetime
    append: bool = False
    days: int = 90
    schema: str = "raw"
    holdout_percent: float = 10.0

    def validate(self) -> None:
        if self.events <= 0:
            raise ValueError("events must be a positive number of rows")
        if self.days <= 0:
            raise ValueError("days must be positive")
        if self.as_of.tzinfo is not None:
            raise ValueError("as_of must be a naive UTC datetime")
        if not 0 <= self.holdout_percent <= 100:
            raise ValueError("holdout_percent must be between 0 and 100")
        if not self.schema or not self.schema.replace("_", "").isalnum():
            raise ValueError(f"invalid schema name: {self.schema!r}")


@dataclass
class GenerationSummary:
    """What one call wrote: rows added per table, rows now in each table, timing."""

    db_path: Path
    schema: str
    as_of: datetime
    append: bool
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_total: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0

    @property
    def events_per_second(self) -> float:
        return (
            self.rows_written.get("events", 0) / self.elapsed_seconds
            if self.elapsed_seconds
            else 0.0
        )


class AppendError(ValueError):
    """--append was asked but the existing data does not allow it."""
