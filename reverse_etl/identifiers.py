"""Normalisation and SHA-256 hashing of personal identifiers, per platform.

Pure functions, no I/O, no logging: plaintext goes in, the normalised (and for ad platforms
hashed) value comes out, or ``None`` when the value cannot be used (empty, malformed). Rules
follow docs/reference/destination-apis.md §3.5 (Meta), §4.5 (Google Ads API and Data Manager
API) and §2.5 (Braze); the tests check them against the platforms' documented examples.

Name rule for Meta: the documented contract keeps UTF-8 letters (``José`` -> ``josé``);
the official SDK's ASCII-only behaviour (``jos``) is not followed.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
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


_NOT_ASCII_LETTER = re.compile(r"[^a-z]+")


def _clean(value: object) -> str:
    if value is None:
        return ""
    text = str(value)
    if text.isascii():  # NFC leaves ASCII unchanged: skip the Unicode pass
        return text.strip()
    return unicodedata.normalize("NFC", text).strip()


def _letters(value: str) -> str:
    """Lower-case letters only (any script), no spaces, digits or punctuation."""
    low = value.lower()
    if low.isascii():  # the ASCII letters are exactly a-z once lower-cased
        return _NOT_ASCII_LETTER.sub("", low)
    return "".join(ch for ch in low if ch.isalpha())


# --- shared building blocks ---------------------------------------------------------------
def email_basic(value: object) -> str | None:
    """Trim and lower-case; ``None`` unless it looks like an address."""
    v = _clean(value).lower()
    return v if _EMAIL.match(v) else None


def phone_e164(value: object, country: object = None) -> str | None:
    """E.164 with the leading ``+`` (``+16505551234``), using ``country`` (ISO alpha-2) for
    numbers written without an international prefix. ``None`` if it cannot be a number.

    Numbers written in international form with ASCII digits and the usual separators
    (``+1 (650) 555-0100``, ``0033 6 12 34 56 78``) take :func:`_international_e164`, which
    gives what the library gives (proven by tests/python/destinations/test_phone_fast_path.py);
    anything else goes through ``phonenumbers.parse``."""
    raw = _clean(value)
    if not raw:
        return None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if raw.startswith("+"):
        fast = _international_e164(raw)
        if not isinstance(fast, _AskLibrary):
            return fast
    return _library_e164(raw, _clean(country).upper() or None)


def _library_e164(raw: str, region: str | None) -> str | None:
    """The reference path: ``phonenumbers.parse`` (region only without a leading ``+``)."""
    try:
        num = phonenumbers.parse(raw, region if not raw.startswith("+") else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


# --- the international fast path ----------------------------------------------------------
# ``phonenumbers.parse`` spends most of its 15-25 µs on finding the number inside free text
# (RFC 3966 parameters, extensions, vanity letters, Unicode digits) and on normalising it
# character by character. For a string that is one ``+``, ASCII digits and the separators
# ``space ( ) - .``, ending with a digit, none of that can apply: the library keeps the whole
# string, finds no extension (every extension form needs a letter, ``#``, ``,``, ``;`` or
# ``~``) and its digits are the string's digits. What follows the digits is the library's own
# code: country code (1 to 3 digits, the first that is assigned), the region's metadata, the
# national prefix it strips (``_maybe_strip_national_prefix_carrier_code``), the length checks
# (``_test_number_length``, which reads only the length, asked once per country code and
# length) and E.164 (``+``, country code, national significant number).
# The two helpers are private: if a release renames them, every number takes the library.
class _AskLibrary:
    """The fast path's answer for input it does not cover."""


_LIBRARY = _AskLibrary()
_INTERNATIONAL = re.compile(r"\+[0-9 ().\-]*[0-9]")
_SEPARATORS = str.maketrans("", "", " ().-")
_MAX_INPUT_LENGTH = 250  # the library refuses longer input (TOO_LONG)
_MIN_NSN, _MAX_NSN = 2, 17  # the library's bounds on a national significant number
_strip_national_prefix: Any = getattr(
    phonenumbers.phonenumberutil, "_maybe_strip_national_prefix_carrier_code", None
)
_test_number_length: Any = getattr(phonenumbers.phonenumberutil, "_test_number_length", None)
_FAST_PATH = _strip_national_prefix is not None and _test_number_length is not None
_VR = phonenumbers.phonenumberutil.ValidationResult
_KEEP_UNSTRIPPED = (_VR.TOO_SHORT, _VR.IS_POSSIBLE_LOCAL_ONLY, _VR.INVALID_LENGTH)
_POSSIBLE = (_VR.IS_POSSIBLE, _VR.IS_POSSIBLE_LOCAL_ONLY)
_COUNTRY_CODES = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


@functools.cache
def _metadata_for_country_code(code: int) -> Any:
    region = phonenumbers.region_code_for_country_code(code)
    return phonenumbers.PhoneMetadata.metadata_for_region_or_calling_code(code, region)


@functools.lru_cache(maxsize=4096)
def _length_check(code: int, length: int) -> Any:
    """``_test_number_length`` for a national number of ``length`` digits: it looks at the
    number's length only (the region's possible lengths), so it is asked once per length."""
    return _test_number_length("0" * length, _metadata_for_country_code(code))


def _international_e164(raw: str) -> str | _AskLibrary | None:
    """E.164 for ``+`` and digits with separators, exactly as :func:`_library_e164`;
    ``_LIBRARY`` for input of any other shape."""
    if not _FAST_PATH or len(raw) > _MAX_INPUT_LENGTH or not _INTERNATIONAL.fullmatch(raw):
        return _LIBRARY
    digits = raw[1:].translate(_SEPARATORS)
    # at most 2 digits: not a viable number, or too short after the "+"; a leading 0 is no
    # country code (the library then retries without the "+", which without a region fails)
    if len(digits) <= 2 or digits[0] == "0":
        return None
    for width in (1, 2, 3):
        code = int(digits[:width])
        if code in _COUNTRY_CODES:
            national = digits[width:]
            break
    else:
        return None
    metadata = _metadata_for_country_code(code)
    if metadata is None:  # the library fails an assertion here: let it
        return _LIBRARY
    if len(national) < _MIN_NSN:
        return None
    _, stripped, _ = _strip_national_prefix(national, metadata)
    if _length_check(code, len(stripped)) not in _KEEP_UNSTRIPPED:
        national = stripped
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    if _length_check(code, len(national)) not in _POSSIBLE:
        return None
    return f"+{code}{national}"


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


def _meta_cell(norm: str | None) -> str:
    return "" if norm is None else sha256_hex(norm)


def _meta_dob_cells(value: object) -> list[str]:
    parts = meta_dob_parts(value)
    return ["", "", ""] if parts is None else [sha256_hex(p) for p in parts]


# Values that many members share (names, city, region, postal code, country, gender, date of
# birth) are normalised and hashed once per distinct value: a bounded cache per key of each
# row hasher. Email and phone are unique per member and are not cached.
LOW_CARDINALITY_CACHE_SIZE = 16_384

_META_BY_VALUE: dict[str, Callable[[object], str | None]] = {
    "EMAIL": meta_email,
    "FN": meta_name,
    "LN": meta_name,
    "FI": meta_first_initial,
    "GEN": meta_gender,
    "CT": meta_city,
    "ST": meta_state,
    "COUNTRY": meta_country,
}
_META_UNIQUE = ("EMAIL", "PHONE", "EXTERN_ID", "MADID")


def _meta_cells_of(key: str) -> Callable[[object, object], list[str]]:
    """The cells of one mapped key, as a function of (value, country)."""
    cache = functools.lru_cache(maxsize=LOW_CARDINALITY_CACHE_SIZE)
    if key == "DOB":
        dob = cache(_meta_dob_cells)
        return lambda value, country: dob(value)
    if key in META_CLEAR_KEYS:
        return lambda value, country: [meta_normalize(key, value, country) or ""]
    if key == "PHONE":
        return lambda value, country: [_meta_cell(meta_phone(value, country))]
    by_value = _META_BY_VALUE.get(key)
    if by_value is not None:
        norm = by_value

        def cell(value: object) -> list[str]:
            return [_meta_cell(norm(value))]

        one = cell if key in _META_UNIQUE else cache(cell)
        return lambda value, country: one(value)
    # ZIP depends on the country; DOBY / DOBM / DOBD mapped one by one
    both = cache(lambda value, country: [meta_hash(key, value, country)])
    return both


class MetaRowHasher:
    """Turns a row's fields (Meta schema key -> value, ``DOB`` for the three date-of-birth
    cells) into the cells Meta receives, in the order of ``keys``: the same cells as
    :func:`meta_hash` key by key, with each key's rule looked up once per sync instead of
    once per value. Picklable (it is rebuilt from its keys), so it can run in a worker
    process."""

    def __init__(self, keys: Sequence[str]):
        self.keys = list(keys)
        self._cells = [(key, _meta_cells_of(key)) for key in self.keys]

    def __call__(self, fields: dict[str, str]) -> list[str]:
        country = fields.get("COUNTRY")
        row: list[str] = []
        for key, fn in self._cells:
            row.extend(fn(fields.get(key, ""), country))
        return row

    def __reduce__(self) -> tuple[type[MetaRowHasher], tuple[list[str]]]:
        return (MetaRowHasher, (self.keys,))


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
    name, country and postal code together give an address identifier. A malformed email or
    phone is left out (:func:`google_dropped` names it) and the member keeps its other
    identifiers; the problem is set only when none is left."""
    country = fields.get("country")
    out: list[dict[str, Any]] = []
    malformed: list[str] = []
    for field, key in (("email", keys.email), ("phone", keys.phone)):
        raw = fields.get(field, "")
        if raw.strip():
            hashed = google_hash(field, raw, country, api=keys.api)
            if hashed is None:
                malformed.append(field)
            else:
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
        bad = "".join(f"; {field} is malformed" for field in malformed)
        return [], (
            f"no usable identifier (email, phone or full address{bad}; values withheld); "
            "fix it in the model"
        )
    return out, None


def google_dropped(
    fields: dict[str, str], identifiers: list[dict[str, Any]], keys: GoogleIdentifierKeys
) -> tuple[str, ...]:
    """The fields (``email``, ``phone``) given for a member but left out of its identifiers
    by :func:`google_user_identifiers` because they are malformed."""
    sent = {k for ident in identifiers for k in ident}
    return tuple(
        field
        for field, key in (("email", keys.email), ("phone", keys.phone))
        if fields.get(field, "").strip() and key not in sent
    )
