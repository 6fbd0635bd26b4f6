"""The tracker event accepted by ``POST /v1/events``: the raw contract's shape, validated.

An event has the column names of ``raw.events`` (docs/contracts/foundation-models.md) minus
``loaded_at`` (set by the warehouse loader). ``event_type`` and ``page_type`` must be values
the batch models evaluate: the dbt vars ``rule_event_types`` and ``rule_page_types``, read
from dbt_project.yml so both paths share one list. Values are normalised the way the staging
model ``stg_tracker__event_loads`` normalises them (codes lower-cased, blank ids null), so
the stream, the warehouse and the batch models see the same event.

``validate_batch`` checks a whole request body and returns the events as they go on the
stream, or raises :class:`InvalidBatchError` naming the index and field of each problem.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

# the repository root when the package is used from a checkout (`pip install -e .`)
_CHECKOUT_ROOT = Path(__file__).resolve().parents[2]

_ID = 128
_TEXT = 256
_URL = 2048


class EventVocabularyError(RuntimeError):
    """The accepted event and page types could not be read from dbt_project.yml."""


class InvalidBatchError(ValueError):
    """A request body that is not a valid batch. ``errors`` lists every problem found as
    (index, field, message); ``index`` is None for a problem with the body itself."""

    def __init__(self, errors: Sequence[EventError]):
        self.errors = list(errors)
        first = self.errors[0]
        self.index = first.index
        self.field = first.field
        self.message = first.message
        super().__init__(str(first))


@dataclass(frozen=True)
class EventError:
    index: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"event {self.index}, " if self.index is not None else ""
        return f"{where}field '{self.field}': {self.message}"


@dataclass(frozen=True)
class EventVocabulary:
    """The event and page types the batch models evaluate."""

    event_types: frozenset[str]
    page_types: frozenset[str]


def default_project_dir() -> Path:
    """The dbt project: the checkout this package runs from, else the working directory."""
    if (_CHECKOUT_ROOT / "dbt_project.yml").is_file():
        return _CHECKOUT_ROOT
    return Path.cwd()


def load_vocabulary(project_dir: Path | None = None) -> EventVocabulary:
    """The vars ``rule_event_types`` and ``rule_page_types`` of the project's dbt_project.yml."""
    path = (project_dir or default_project_dir()) / "dbt_project.yml"
    try:
        project = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise EventVocabularyError(
            f"cannot read the accepted event types from {path}: {exc}. Run from the dbt "
            "project's directory or set AUDIENCES_PROJECT_DIR."
        ) from exc
    variables = (project or {}).get("vars") or {}
    lists = {}
    for name in ("rule_event_types", "rule_page_types"):
        values = variables.get(name)
        if not isinstance(values, list) or not values:
            raise EventVocabularyError(f"{path}: var '{name}' must be a non-empty list")
        lists[name] = frozenset(str(v).strip().lower() for v in values)
    return EventVocabulary(lists["rule_event_types"], lists["rule_page_types"])


@functools.cache
def _default_vocabulary() -> EventVocabulary:
    return load_vocabulary()


@dataclass(frozen=True)
class _Context:
    vocabulary: EventVocabulary
    now: datetime
    max_future: timedelta


def _ctx(info: ValidationInfo) -> _Context:
    context = info.context
    assert isinstance(context, _Context), "validate events through validate_batch()"
    return context


def _blank_to_none(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _code(value: str | None) -> str | None:
    value = _blank_to_none(value)
    return value.lower() if value is not None else None


class TrackerEvent(BaseModel):
    """One tracker event, raw column names. Unknown fields are an error."""

    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: str = Field(min_length=1, max_length=_ID)
    anonymous_id: str = Field(min_length=1, max_length=_ID)
    user_id: str | None = Field(default=None, max_length=_ID)
    session_id: str | None = Field(default=None, max_length=_ID)
    event_type: str = Field(max_length=_TEXT)
    page_type: str | None = Field(default=None, max_length=_TEXT)
    page_url: str | None = Field(default=None, max_length=_URL)
    product_id: str | None = Field(default=None, max_length=_ID)
    product_category: str | None = Field(default=None, max_length=_TEXT)
    engaged_seconds: int | None = Field(default=None, ge=0, le=86_400)
    device_type: str | None = Field(default=None, max_length=_TEXT)
    browser: str | None = Field(default=None, max_length=_TEXT)
    os: str | None = Field(default=None, max_length=_TEXT)
    country: str | None = Field(default=None, max_length=_TEXT)
    region: str | None = Field(default=None, max_length=_TEXT)
    city: str | None = Field(default=None, max_length=_TEXT)
    referrer: str | None = Field(default=None, max_length=_URL)
    utm_source: str | None = Field(default=None, max_length=_TEXT)
    utm_medium: str | None = Field(default=None, max_length=_TEXT)
    utm_campaign: str | None = Field(default=None, max_length=_TEXT)
    occurred_at: str = Field(max_length=64)

    @field_validator("event_id", "anonymous_id")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("user_id", "session_id", "utm_source", "utm_medium", "utm_campaign")
    @classmethod
    def _trim(cls, value: str | None) -> str | None:
        return _blank_to_none(value)

    @field_validator("product_category", "device_type")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return _code(value)

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, value: str, info: ValidationInfo) -> str:
        code = _code(value)
        accepted = _ctx(info).vocabulary.event_types
        if code not in accepted:
            raise ValueError(f"unknown event type; accepted: {', '.join(sorted(accepted))}")
        return code

    @field_validator("page_type")
    @classmethod
    def _page_type(cls, value: str | None, info: ValidationInfo) -> str | None:
        code = _code(value)
        accepted = _ctx(info).vocabulary.page_types
        if code is not None and code not in accepted:
            raise ValueError(f"unknown page type; accepted: {', '.join(sorted(accepted))}")
        return code

    @field_validator("occurred_at")
    @classmethod
    def _occurred_at(cls, value: str, info: ValidationInfo) -> str:
        context = _ctx(info)
        text = value.strip()
        if len(text) < 19 or text[10] not in "Tt ":
            raise ValueError("must be an ISO 8601 date and time, e.g. 2026-11-24T10:15:00Z")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(
                "must be an ISO 8601 date and time, e.g. 2026-11-24T10:15:00Z"
            ) from None
        if parsed.tzinfo is not None:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        now = context.now.astimezone(UTC).replace(tzinfo=None)
        if parsed > now + context.max_future:
            raise ValueError(
                f"is {(parsed - now).total_seconds():.0f} s in the future; at most "
                f"{context.max_future.total_seconds():.0f} s is accepted (check the "
                "device clock or the time zone)"
            )
        return parsed.isoformat()


FIELDS = tuple(TrackerEvent.model_fields)

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "is not a field of a tracker event; accepted fields: " + ", ".join(FIELDS),
    "string_type": "must be a string",
    "int_type": "must be an integer",
    "string_too_short": "must not be empty",
}


def _event_errors(index: int, exc: ValidationError) -> list[EventError]:
    out = []
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "event"
        message = _MESSAGES.get(err["type"]) or str(err["msg"]).removeprefix("Value error, ")
        out.append(EventError(index, field, message))
    return out


def validate_batch(
    payload: Any,
    *,
    vocabulary: EventVocabulary | None = None,
    now: datetime | None = None,
    max_future_seconds: int = 300,
) -> list[dict[str, Any]]:
    """The events of a request body ``{"events": [...]}``, each a dict with every field
    (absent ones ``None``), ready for the stream. Raises InvalidBatchError listing every
    problem (index and field); a batch with any problem is rejected whole. ``vocabulary``
    defaults to the one of :func:`default_project_dir`."""
    if not isinstance(payload, dict):
        raise InvalidBatchError(
            [EventError(None, "body", 'must be a JSON object {"events": [...]}')]
        )
    unknown = sorted(set(payload) - {"events"})
    if unknown:
        raise InvalidBatchError(
            [EventError(None, unknown[0], 'is not accepted; the body is {"events": [...]}')]
        )
    events = payload.get("events")
    if not isinstance(events, list):
        raise InvalidBatchError([EventError(None, "events", "must be a list of events")])
    context = _Context(
        vocabulary=vocabulary or _default_vocabulary(),
        now=now or datetime.now(UTC),
        max_future=timedelta(seconds=max_future_seconds),
    )
    valid: list[dict[str, Any]] = []
    errors: list[EventError] = []
    for index, raw in enumerate(events):
        if not isinstance(raw, dict):
            errors.append(EventError(index, "event", "must be a JSON object"))
            continue
        try:
            event = TrackerEvent.model_validate(raw, context=context)
        except ValidationError as exc:
            errors.extend(_event_errors(index, exc))
            continue
        valid.append(event.model_dump())
    if errors:
        raise InvalidBatchError(errors)
    return valid
