"""The international phone fast path (reverse_etl/identifiers.py, ``_international_e164``)
gives exactly what ``phonenumbers.parse`` gives, on generated numbers of every shape and on
the demo generator's numbers.

The reference below is the library-only normaliser as it stood before the fast path, written
out here so that the test does not depend on the code it checks."""

from __future__ import annotations

import unicodedata

import numpy as np
import phonenumbers
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from audiences.generator import crm
from audiences.generator.catalog import PLACES
from reverse_etl import identifiers as ids


def library_e164(value: object, country: object = None) -> str | None:
    """``phone_e164`` through ``phonenumbers`` alone (the code before the fast path)."""

    def clean(v: object) -> str:
        return "" if v is None else unicodedata.normalize("NFC", str(v)).strip()

    raw = clean(value)
    if not raw:
        return None
    region = clean(country).upper() or None
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    try:
        num = phonenumbers.parse(raw, region if not raw.startswith("+") else None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(num):
        return None
    return phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)


COUNTRY_CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
SEPARATORS = [" ", "-", ".", "(", ")", " (", ") ", "  ", "--"]


@st.composite
def formatted_digits(draw: st.DrawFn, min_size: int = 0, max_size: int = 20) -> str:
    """Digits, cut into groups joined by separators."""
    digits = draw(st.text("0123456789", min_size=min_size, max_size=max_size))
    out = []
    for ch in digits:
        if out and draw(st.integers(0, 3)) == 0:
            out.append(draw(st.sampled_from(SEPARATORS)))
        out.append(ch)
    return "".join(out)


@st.composite
def international(draw: st.DrawFn) -> str:
    """``+`` (or ``00``) and an assigned country code (sometimes a random one) and a national
    number of any length, with or without a national prefix or leading zeros."""
    code = str(draw(st.sampled_from(COUNTRY_CODES) | st.integers(0, 999)))
    lead = draw(st.sampled_from(["", "", "", "0", "00", "1", "8", "9"]))
    shortest = draw(st.sampled_from([0, 6, 7, 8, 9, 10]))  # most numbers have 7 to 11 digits
    rest = draw(formatted_digits(min_size=shortest, max_size=max(shortest, 12) + 6))
    sep = draw(st.sampled_from(["", " ", "-", " (", "("]))
    prefix = draw(st.sampled_from(["+", "+", "+", "00", "+ ", "+(", "++", "\uff0b"]))
    return f"{prefix}{code}{sep}{lead}{rest}"


@st.composite
def national(draw: st.DrawFn) -> str:
    """A national number as people write it: parentheses, spaces, dashes, a trunk prefix."""
    lead = draw(st.sampled_from(["", "0", "(0)", "1", "8 ", "0 ", "(0", "00"]))
    return lead + draw(formatted_digits(min_size=1, max_size=16))


JUNK = st.text(
    st.sampled_from(list("0123456789+ ()-.#x,;~/*abcXtelEXT:=٣５\u00a0\t")),
    max_size=30,
) | st.text(max_size=30)

PHONES = international() | national() | JUNK
COUNTRIES = st.sampled_from(REGIONS) | st.sampled_from([None, "", "us", "ZZ", "001", "xx"])


@settings(max_examples=3000, deadline=None)
@given(PHONES, COUNTRIES)
@example("+1 (650) 555-1234", None)
@example("+16505551234", "FR")
@example("0033 6 12 34 56 78", None)
@example("+44 (0)20 7946 0958", None)  # national prefix inside an international number
@example("+39 06 1234 5678", None)  # Italian leading zero
@example("+7 8 800 555 35 35", None)  # Russia: a trunk prefix after the country code
@example("+1", None)
@example("+12", None)
@example("+0 650 555 1234", None)
@example("+999 1234567", None)  # unassigned country code
@example("+800 1234 5678", None)  # non-geographic entity
@example("+1 650 555 1234 5678 9012 3", None)  # too long
@example("+1 650 555-1234 ext. 5", None)  # extension: not the fast path's shape
@example("+1 (650) 555-1234)", None)  # trailing separator
@example("+" + "1" * 260, None)  # longer than the library accepts
def test_fast_path_equals_library(phone: str, country: str | None) -> None:
    assert ids.phone_e164(phone, country) == library_e164(phone, country)
    assert ids.google_phone(phone, country) == library_e164(phone, country)


@settings(max_examples=1500, deadline=None)
@given(international())
def test_international_numbers_take_the_fast_path_and_agree(phone: str) -> None:
    raw = phone.strip()
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    fast = ids._international_e164(raw)
    if fast is not ids._LIBRARY:
        assert fast == library_e164(phone)


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+1 (650) 555-1234", "+16505551234"),
        ("+44 (0)20 7946 0958", "+442079460958"),
        ("+39 06 1234 5678", "+390612345678"),
        ("0049 30 1234567", "+49301234567"),
        ("+1 650", None),
        ("+999 1234567", None),
        ("+0 650 555 1234", None),
    ],
)
def test_fast_path_answers_these_itself(phone: str, expected: str | None) -> None:
    raw = "+" + phone[2:] if phone.startswith("00") else phone
    assert ids._international_e164(raw) == expected
    assert library_e164(phone) == expected


@pytest.mark.parametrize(
    "phone",
    [
        "(650) 555-1234",
        "+1 650 555 1234 x5",
        "+1 \uff16\uff15\uff10 555 1234",
        "tel:+1-650-555-1234",
    ],
)
def test_other_shapes_go_to_the_library(phone: str) -> None:
    assert ids._international_e164(phone) is ids._LIBRARY


def test_demo_generator_phone_numbers() -> None:
    """Every phone number the demo generator writes (crm.build_customers, all its countries)
    normalises the same through the fast path as through the library, and takes the fast
    path (or is refused by both)."""
    rng = np.random.default_rng(7)
    n = 4000
    never = np.iinfo(np.int64).max
    as_of = 1_795_478_400_000 // 1000
    table = crm.build_customers(
        rng,
        pa.array([f"u{i}" for i in range(n)]),
        rng.integers(0, len(PLACES), n),
        rng.random(n) < 0.8,
        rng.random(n) < 0.8,
        as_of - rng.integers(86_400, 86_400 * 900, n),
        np.full(n, never, dtype=np.int64),
        as_of,
    )
    rows = [r for r in table.select(["phone", "country"]).to_pylist() if r["phone"]]
    countries = {r["country"] for r in rows}
    assert len(rows) > 2000
    assert countries == {p[0] for p in PLACES}
    usable = 0
    for r in rows:
        expected = library_e164(r["phone"], r["country"])
        assert ids._international_e164(r["phone"]) == expected, r
        assert ids.phone_e164(r["phone"], r["country"]) == expected, r
        usable += expected is not None
    # the generator draws 10 national digits for every country: right for the US and Canada,
    # too many for some others (Spain has 9), which both paths refuse alike
    assert usable > len(rows) // 2
