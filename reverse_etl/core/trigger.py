"""One real-time trigger as declared in syncs.yml (``triggers:``; pure data).

A trigger sends the segment entries and exits the streaming evaluator finds (the Redis
stream ``rt:changes``) to a destination that takes events, at once, through the event
outbox (ADR 0005, ADR 0009; audiences/realtime/triggers.py runs them). Like a sync's, its
``destination`` and ``options`` are checked against the destination registry when the file
is loaded (``context={"catalog": ...}``)."""

from __future__ import annotations

import re
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from reverse_etl.core.sync import (
    RateLimit,
    check_config_name,
    context_catalog,
    options_error_text,
)

_SEGMENT_RE = re.compile(r"^[a-z0-9][a-z0-9_]{0,127}$")

Change = Literal["entered", "exited"]
_BOTH: tuple[Change, ...] = ("entered", "exited")


class TriggerCatalog(Protocol):
    """What validation needs to know about the destinations that take triggers."""

    def trigger_names(self) -> tuple[str, ...]: ...

    def trigger_options_model(self, name: str) -> type[BaseModel]: ...


def _catalog(info: ValidationInfo) -> TriggerCatalog | None:
    return context_catalog(info)  # type: ignore[no-any-return]


class TriggerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    destination: str
    segments: list[str] | Literal["all"] = Field(
        description="segment keys whose changes this trigger sends, or 'all'"
    )
    changes: list[Change] = Field(
        default_factory=lambda: list(_BOTH), description="entered, exited or both"
    )
    rate_limit: RateLimit | Literal["off"] | None = Field(
        default=None, description="override of the destination's published rate; 'off' disables"
    )
    options: dict[str, Any] = Field(default_factory=dict, description="destination specific")
    keep_settled_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="days a sent, rejected or unknown change stays in the outbox (for "
        "`--status`) before it is pruned",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_config_name(v)

    @field_validator("destination")
    @classmethod
    def _destination(cls, v: str, info: ValidationInfo) -> str:
        catalog = _catalog(info)
        if catalog is not None and v not in catalog.trigger_names():
            known = ", ".join(repr(n) for n in catalog.trigger_names())
            raise ValueError(f"destination {v!r} takes no triggers; destinations that do: {known}")
        return v

    @field_validator("segments")
    @classmethod
    def _segments(cls, v: list[str] | str) -> list[str] | str:
        if isinstance(v, list):
            if not v:
                raise ValueError("list at least one segment key, or write 'all'")
            bad = [s for s in v if not _SEGMENT_RE.match(s)]
            if bad:
                raise ValueError(f"{bad[0]!r} is not a segment key (lower-case, digits, '_')")
        return v

    @field_validator("changes")
    @classmethod
    def _changes(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("list 'entered', 'exited' or both")
        return sorted(set(v))

    @field_validator("options")
    @classmethod
    def _options(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        catalog = _catalog(info)
        dest = info.data.get("destination")
        if catalog is None or not isinstance(dest, str) or dest not in catalog.trigger_names():
            return v
        try:
            catalog.trigger_options_model(dest).model_validate(v)
        except ValidationError as exc:
            raise ValueError(options_error_text(exc)) from None
        return v

    def matches(self, segment_key: str, change: str) -> bool:
        """Whether a change of ``segment_key`` of kind ``change`` is this trigger's."""
        return change in self.changes and (self.segments == "all" or segment_key in self.segments)
