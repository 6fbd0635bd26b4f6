"""A stream event in the shape the batch models read it (stg_tracker__event_loads).

The staging view lower-cases the closed vocabularies, trims ids and campaign parameters
(an empty value is null) and reads ``occurred_at`` as a UTC timestamp; the evaluator applies
the same rules so a filter matches exactly the events the batch matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson

EPOCH = datetime(1970, 1, 1)

_LOWER = ("event_type", "page_type", "product_category", "device_type")
_TRIMMED = ("utm_source", "utm_medium", "utm_campaign")
_AS_IS = ("page_url", "product_id", "country", "browser")


class BadEvent(ValueError):
    """An event on the stream the evaluator cannot read (names the entry and the field)."""


@dataclass(frozen=True)
class Event:
    """One event, normalised; ``t`` is ``occurred_at`` in microseconds since the epoch.

    An event never changes, so what the evaluator derives from it is kept on it while its
    device state stays in memory: the campaign key and its JSON. (Which rules' filters it
    passes is kept with the person's events: timeline.py.)"""

    event_id: str
    anonymous_id: str
    user_id: str | None
    tracker_session_id: str | None
    t: int
    fields: dict[str, str | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "i": self.event_id,
            "u": self.user_id,
            "s": self.tracker_session_id,
            "t": self.t,
            "f": self.fields,
        }

    @cached_property
    def json_bytes(self) -> bytes:
        """``to_json()`` as compact JSON (orjson)."""
        return orjson.dumps(self.to_json())

    @classmethod
    def from_json(cls, anonymous_id: str, data: dict[str, Any]) -> Event:
        return cls(data["i"], anonymous_id, data["u"], data["s"], data["t"], data["f"])

    @cached_property
    def campaign_key(self) -> str | None:
        source = self.fields.get("utm_source")
        if source is None:
            return None
        medium = self.fields.get("utm_medium") or ""
        campaign = self.fields.get("utm_campaign") or ""
        return f"{source}|{medium}|{campaign}"


def to_micros(moment: datetime) -> int:
    """A timestamp (naive = UTC) as microseconds since the epoch."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    from datetime import timedelta

    return EPOCH + timedelta(microseconds=micros)


def iso(micros: int) -> str:
    return from_micros(micros).isoformat()


def _trimmed(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip(" ")  # SQL trim(): spaces only
    return text or None


def normalize(raw: dict[str, Any], entry_id: str = "?") -> Event:
    """The event as the batch's staging view reads it; BadEvent names what is wrong."""
    event_id = raw.get("event_id")
    anonymous_id = raw.get("anonymous_id")
    if event_id is None or str(event_id) == "":
        raise BadEvent(f"stream entry {entry_id}: field 'event_id' is missing")
    if anonymous_id is None or str(anonymous_id) == "":
        raise BadEvent(f"stream entry {entry_id}: field 'anonymous_id' is missing")
    occurred = raw.get("occurred_at")
    try:
        moment = datetime.fromisoformat(str(occurred).replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadEvent(
            f"stream entry {entry_id}: field 'occurred_at' is not an ISO timestamp: {occurred!r}"
        ) from exc
    fields: dict[str, str | None] = {}
    for name in _LOWER:
        value = raw.get(name)
        fields[name] = None if value is None else str(value).lower()
    for name in _TRIMMED:
        fields[name] = _trimmed(raw.get(name))
    for name in _AS_IS:
        value = raw.get(name)
        fields[name] = None if value is None else str(value)
    return Event(
        event_id=str(event_id),
        anonymous_id=str(anonymous_id),
        user_id=_trimmed(raw.get("user_id")),
        tracker_session_id=_trimmed(raw.get("session_id")),
        t=to_micros(moment),
        fields=fields,
    )
