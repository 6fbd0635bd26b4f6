"""Normalisation and SHA-256 hashing of personal identifiers, per platform.

Pure functions, no I/O, no logging: plaintext goes in, the normalised (and for ad platforms
hashed) value comes out, or ``None`` when the value cannot be used (empty, malformed). Rules
follow docs/reference/destination-apis.md §3.5 (Meta), §4.5 (Google Ads API and Data Manager
API) and §2.5 (Braze); the tests check them against the platforms' documented examples.

Name rule for Meta: the documented contract keeps UTF-8 letters (``José`` -> ``josé``);
the official SDK's ASCII-only behaviour (``jos``) is not followed.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import phonenumbers

_WS = re.compile(r"\s+")
_DIGITS = re.compile(r"\D+")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def sha256_hex(value: str) -> str:
    """Lower-case hex SHA-256 of the UTF-8 bytes of ``value``."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _clean(value: object) -> str:
    if value is None:
        return ""
    return unicodedata.normalize("NFC", str(value)).strip()


def _letters(value: str) -> str:
    """Lower-case letters only (any script), no spaces, digits or punctuation."""
    return "".join(ch for ch in value.lower() if ch.isalpha())


# --- shared building blocks ---------------------------------------------------------------
def email_basic(value: object) -> str | None:
    """Trim and lower-case; ``None`` unless it looks like an address."""
    v = _clean(value).lower()
    return v if _EMAIL.match(v) else None


def phone_e164(value: object, country: object = None) -> str | None:
    """E.164 with the leading ``+`` (``+16505551234``), using ``country`` (ISO alpha-2) for
    numbers written without an international prefix. ``None`` if it cannot be a number."""
    raw = _clean(value)
    if not raw:
        return None
    region = _clean(country).upper() or None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        num = phonenumbers.parse(raw, region if not raw.startswith("+") else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


def country_code(value: object) -> str | None:
    v = _letters(_clean(value))
    return v if len(v) == 2 else None


def _date(value: object) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(_clean(value)[:10])
    except ValueError:
        return None


# --- Meta Custom Audiences (§3.5) ---------------------------------------------------------
META_HASHED_KEYS = (
    "EMAIL",
    "PHONE",
    "FN",
    "LN",
    "FI",
    "GEN",
    "DOBY",
    "DOBM",
    "DOBD",
    "CT",
    "ST",
    "ZIP",
    "COUNTRY",
)
META_CLEAR_KEYS = ("EXTERN_ID", "MADID")


def meta_email(value: object) -> str | None:
    return email_basic(value)


def meta_phone(value: object, country: object = None) -> str | None:
    """Digits only with the country code, no ``+`` and no leading zeros (``16505551234``)."""
    e164 = phone_e164(value, country)
    if e164 is not None:
        return e164[1:]
    digits = _DIGITS.sub("", _clean(value)).lstrip("0")
    # Without a parseable number only an explicit international form is usable.
    return digits if _clean(value).startswith("+") and 8 <= len(digits) <= 15 else None


def meta_name(value: object) -> str | None:
    v = _letters(_clean(value))
    return v or None


def meta_first_initial(value: object) -> str | None:
    v = meta_name(value)
    return v[0] if v else None


def meta_gender(value: object) -> str | None:
    v = _clean(value).lower()
    return v[0] if v[:1] in ("m", "f") else None


def meta_city(value: object) -> str | None:
    return meta_name(value)


def meta_state(value: object) -> str | None:
    return meta_name(value)


def meta_zip(value: object, country: object = None) -> str | None:
    v = _WS.sub("", _clean(value).lower())
    if not v:
        return None
    if (country_code(country) or "") == "us" or re.fullmatch(r"\d{5}(-\d{4})?", v):
        v = v.split("-")[0][:5]
    return v or None


def meta_country(value: object) -> str | None:
    return country_code(value)


def meta_dob_parts(value: object) -> tuple[str, str, str] | None:
    d = _date(value)
    return None if d is None else (f"{d.year:04d}", f"{d.month:02d}", f"{d.day:02d}")


def meta_normalize(key: str, value: object, country: object = None) -> str | None:
    """Normalised plaintext for one Meta schema key (not hashed)."""
    if key == "EMAIL":
        return meta_email(value)
    if key == "PHONE":
        return meta_phone(value, country)
    if key in ("FN", "LN"):
        return meta_name(value)
    if key == "FI":
        return meta_first_initial(value)
    if key == "GEN":
        return meta_gender(value)
    if key == "CT":
        return meta_city(value)
    if key == "ST":
        return meta_state(value)
    if key == "ZIP":
        return meta_zip(value, country)
    if key == "COUNTRY":
        return meta_country(value)
    if key in ("DOBY", "DOBM", "DOBD"):
        parts = meta_dob_parts(value)
        return None if parts is None else parts[("DOBY", "DOBM", "DOBD").index(key)]
    if key == "MADID":
        v = _clean(value).lower()
        return v or None
    if key == "EXTERN_ID":
        v = _clean(value)
        return v or None
    raise ValueError(f"unknown Meta schema key {key!r}")


def meta_hash(key: str, value: object, country: object = None) -> str:
    """The cell Meta receives for ``key``: SHA-256 hex of the normalised value ('' if
    unusable); EXTERN_ID and MADID are sent normalised but not hashed."""
    norm = meta_normalize(key, value, country)
    if norm is None:
        return ""
    return norm if key in META_CLEAR_KEYS else sha256_hex(norm)


# --- Google ---------------------------------------------------------------------------------
def google_ads_email(value: object) -> str | None:
    """Google Ads API rule: trim and lower-case (Gmail dots kept)."""
    return email_basic(value)


def google_dm_email(value: object) -> str | None:
    """Data Manager API rule: drop all whitespace, lower-case, and for gmail.com /
    googlemail.com remove every dot of the local part and any ``+tag``."""
    v = _WS.sub("", _clean(value)).lower()
    if not _EMAIL.match(v):
        return None
    local, _, domain = v.rpartition("@")
    if domain in _GMAIL_DOMAINS:
        local = local.split("+", 1)[0].replace(".", "")
        if not local:
            return None
    return f"{local}@{domain}"


def google_phone(value: object, country: object = None) -> str | None:
    """E.164 with the leading ``+``."""
    return phone_e164(value, country)


def google_name(value: object) -> str | None:
    """Lower-case, no punctuation, no leading/trailing whitespace (inner spaces kept once)."""
    v = _clean(value).lower()
    v = "".join(ch for ch in v if ch.isalpha() or ch.isspace())
    v = _WS.sub(" ", v).strip()
    return v or None


def google_region(value: object) -> str | None:
    """ISO 3166-1 alpha-2, upper-case, sent in clear."""
    v = country_code(value)
    return v.upper() if v else None


def google_postal(value: object) -> str | None:
    v = _WS.sub(" ", _clean(value)).strip()
    return v or None


def google_hash(kind: str, value: object, country: object = None, *, api: str = "dm") -> str | None:
    """SHA-256 hex for ``kind`` in (email, phone, first_name, last_name); ``api`` is "dm"
    (Data Manager rules) or "ads" (Google Ads API rules)."""
    if kind == "email":
        norm = google_dm_email(value) if api == "dm" else google_ads_email(value)
    elif kind == "phone":
        norm = google_phone(value, country)
    elif kind in ("first_name", "last_name"):
        norm = google_name(value)
    else:
        raise ValueError(f"unknown Google identifier kind {kind!r}")
    return None if norm is None else sha256_hex(norm)


# --- Braze (no hashing; values sent in clear) -------------------------------------------------
def braze_email(value: object) -> str | None:
    return email_basic(value)


def braze_phone(value: object, country: object = None) -> str | None:
    return phone_e164(value, country)


def braze_country(value: object) -> str | None:
    return google_region(value)


def local_dedup_hash(value: str) -> str:
    """A local idempotency key for an already-normalised identifier (never sent)."""
    return sha256_hex(value)


@dataclass(frozen=True)
class GoogleIdentifierKeys:
    """How one Google API names the identifier fields of a member."""

    email: str
    phone: str
    address: str
    given_name: str
    family_name: str
    region: str
    api: str


def google_user_identifiers(
    fields: dict[str, str], keys: GoogleIdentifierKeys
) -> tuple[list[dict[str, Any]], str | None]:
    """(identifiers, problem) for one member, hashed as Google requires; the problem names
    the field, never its value. Email and phone each give one identifier; first name, last
    name, country and postal code together give an address identifier."""
    country = fields.get("country")
    out: list[dict[str, Any]] = []
    for field, key in (("email", keys.email), ("phone", keys.phone)):
        raw = fields.get(field, "")
        if raw.strip():
            hashed = google_hash(field, raw, country, api=keys.api)
            if hashed is None:
                return [], f"{field} is malformed (value withheld); fix it in the model"
            out.append({key: hashed})
    given = google_hash("first_name", fields.get("first_name", ""))
    family = google_hash("last_name", fields.get("last_name", ""))
    region = google_region(country)
    postal = google_postal(fields.get("postal_code"))
    if given and family and region and postal:
        out.append(
            {
                keys.address: {
                    keys.given_name: given,
                    keys.family_name: family,
                    keys.region: region,
                    "postalCode": postal,
                }
            }
        )
    if not out:
        return [], "no usable identifier (email, phone or full address)"
    return out, None
