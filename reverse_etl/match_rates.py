"""Match rates before sending: per sync and identifier, how many members carry it (coverage)
and how many of those are usable after the platform's normalisation (validity), and the
number of match keys the platform can expect (docs/match-rates.md).

Identifiers are recognised by the destination field a sync maps them to (``EMAIL`` / ``email``,
``PHONE`` / ``phone``, and for the address: first name, last name, postal code and country);
validity uses the same rules as the encoders (:mod:`reverse_etl.identifiers`). Rows are read
page by page from the sync's source query; only counters are kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from reverse_etl import identifiers as ids

Normaliser = Callable[[str, str], str | None]  # (value, country) -> normalised or None

# destination field names (any case) of each part of a member's identity
EMAIL_FIELDS = ("email",)
PHONE_FIELDS = ("phone", "phone_number")
FIRST_NAME_FIELDS = ("fn", "first_name")
LAST_NAME_FIELDS = ("ln", "last_name")
POSTAL_FIELDS = ("zip", "postal_code")
COUNTRY_FIELDS = ("country",)


def _rules(destination: str) -> dict[str, Normaliser]:
    """The email / phone / name / postal / country rule of each destination."""
    if destination == "meta":
        return {
            "email": lambda v, c: ids.meta_email(v),
            "phone": ids.meta_phone,
            "name": lambda v, c: ids.meta_name(v),
            "postal": ids.meta_zip,
            "country": lambda v, c: ids.meta_country(v),
        }
    if destination in ("google_data_manager", "google_ads"):
        email = (
            ids.google_dm_email if destination == "google_data_manager" else ids.google_ads_email
        )
        return {
            "email": lambda v, c: email(v),
            "phone": ids.google_phone,
            "name": lambda v, c: ids.google_name(v),
            "postal": lambda v, c: ids.google_postal(v),
            "country": lambda v, c: ids.google_region(v),
        }
    return {
        "email": lambda v, c: ids.email_basic(v),
        "phone": ids.phone_e164,
        "name": lambda v, c: v.strip() or None,
        "postal": lambda v, c: v.strip() or None,
        "country": lambda v, c: ids.country_code(v),
    }


def _field(mapping: Iterable[str], names: tuple[str, ...]) -> str | None:
    return next((f for f in mapping if f.lower() in names), None)


@dataclass(frozen=True)
class IdentifierRate:
    """One identifier of one sync: members carrying it and members for whom it is usable."""

    identifier: str  # email | phone | address
    fields: tuple[str, ...]  # the destination fields it is read from
    members: int
    present: int
    valid: int

    @property
    def coverage(self) -> float:
        return self.present / self.members if self.members else 0.0

    @property
    def validity(self) -> float:
        """Share of the members carrying it whose value is usable after normalisation."""
        return self.valid / self.present if self.present else 0.0


@dataclass(frozen=True)
class MatchRates:
    sync_name: str
    destination: str
    members: int
    identifiers: list[IdentifierRate]
    matchable: int  # members with at least one usable identifier
    match_keys: int  # usable identifiers over all members: what the platform can match on

    @property
    def matchable_share(self) -> float:
        return self.matchable / self.members if self.members else 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "members": self.members,
            "matchable_members": self.matchable,
            "expected_match_keys": self.match_keys,
            "identifiers": [
                {
                    "identifier": r.identifier,
                    "fields": list(r.fields),
                    "present": r.present,
                    "valid": r.valid,
                    "coverage": round(r.coverage, 4),
                    "validity": round(r.validity, 4),
                }
                for r in self.identifiers
            ],
        }


class MatchRateCounter:
    """Counts one sync's identifiers over rows of fields (destination field -> text)."""

    def __init__(self, sync_name: str, destination: str, mapping: Iterable[str]):
        fields = list(mapping)
        self.sync_name = sync_name
        self.destination = destination
        self.rules = _rules(destination)
        self.email = _field(fields, EMAIL_FIELDS)
        self.phone = _field(fields, PHONE_FIELDS)
        self.country = _field(fields, COUNTRY_FIELDS)
        address = (
            _field(fields, FIRST_NAME_FIELDS),
            _field(fields, LAST_NAME_FIELDS),
            _field(fields, POSTAL_FIELDS),
            self.country,
        )
        self.address: tuple[str, ...] | None = (
            tuple(f for f in address if f) if all(address) else None
        )
        self.members = 0
        self.present = {"email": 0, "phone": 0, "address": 0}
        self.valid = {"email": 0, "phone": 0, "address": 0}
        self.matchable = 0
        self.keys = 0

    def applies(self) -> bool:
        """True when the sync maps at least one identifier this module knows."""
        return bool(self.email or self.phone or self.address)

    def add(self, fields: dict[str, str]) -> None:
        self.members += 1
        country = fields.get(self.country, "") if self.country else ""
        ok = 0
        for kind, field in (("email", self.email), ("phone", self.phone)):
            raw = fields.get(field, "") if field else ""
            if raw.strip():
                self.present[kind] += 1
                if self.rules[kind](raw, country) is not None:
                    self.valid[kind] += 1
                    ok += 1
        if self.address:
            first, last, postal, _ = self.address
            parts = [fields.get(f, "") for f in self.address]
            if all(p.strip() for p in parts):
                self.present["address"] += 1
                usable = (
                    self.rules["name"](fields[first], country)
                    and self.rules["name"](fields[last], country)
                    and self.rules["postal"](fields[postal], country)
                    and self.rules["country"](country, country)
                )
                if usable:
                    self.valid["address"] += 1
                    ok += 1
        self.keys += ok
        self.matchable += ok > 0

    def result(self) -> MatchRates:
        rates = [
            IdentifierRate(kind, fields, self.members, self.present[kind], self.valid[kind])
            for kind, fields in (
                ("email", (self.email,) if self.email else ()),
                ("phone", (self.phone,) if self.phone else ()),
                ("address", self.address or ()),
            )
            if fields
        ]
        return MatchRates(
            self.sync_name, self.destination, self.members, rates, self.matchable, self.keys
        )


def measure(
    sync_name: str, destination: str, mapping: Iterable[str], rows: Iterable[dict[str, str]]
) -> MatchRates | None:
    """Match rates of ``rows`` for one sync, or None when it maps no identifier."""
    counter = MatchRateCounter(sync_name, destination, mapping)
    if not counter.applies():
        return None
    for fields in rows:
        counter.add(fields)
    return counter.result()
