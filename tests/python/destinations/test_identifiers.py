"""Normalisation and hash vectors: the worked examples of the platforms' documentation as
reproduced in docs/reference (destination-apis.md §1.5, §2.5, §3.5, §4.5)."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reverse_etl import identifiers as ids


@pytest.mark.parametrize(
    ("key", "raw", "country", "normalized", "digest"),
    [
        (
            "EMAIL",
            " John.Doe@Example.COM ",
            None,
            "john.doe@example.com",
            "836f82db99121b3481011f16b49dfa5fbc714a0d1b1b9f784a1ebbbf5b39577f",
        ),
        (
            "PHONE",
            "+1 (650) 555-1234",
            None,
            "16505551234",
            "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599",
        ),
        (
            "PHONE",
            "(650) 555-1234",
            "US",
            "16505551234",
            "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599",
        ),
        (
            "FN",
            "Jose",
            None,
            "jose",
            "1ec4ed037766aa181d8840ad04b9fc6e195fd37dedc04c98a5767a67d3758ece",
        ),
        (
            "COUNTRY",
            "US",
            None,
            "us",
            "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
        ),
    ],
)
def test_meta_documented_vectors(key, raw, country, normalized, digest):
    assert ids.meta_normalize(key, raw, country) == normalized
    assert ids.meta_hash(key, raw, country) == digest


def test_meta_phone_is_not_googles_format():
    # hashing "+16505551234" gives Google's a2996076...: the classic bug
    assert ids.meta_hash("PHONE", "+1 650 555 1234") != ids.sha256_hex("+16505551234")


@pytest.mark.parametrize(
    ("key", "raw", "country", "expected"),
    [
        ("FN", "José", None, "josé"),  # the documented UTF-8 rule, not the SDK's "jos"
        ("LN", "O'Brien-Smith", None, "obriensmith"),
        ("FI", " jane", None, "j"),
        ("GEN", "Female", None, "f"),
        ("GEN", "x", None, None),
        ("CT", "New York", None, "newyork"),
        ("ST", "CA", None, "ca"),
        ("ZIP", "10115-1234", "US", "10115"),
        ("ZIP", "SW1A 1AA", "GB", "sw1a1aa"),
        ("DOBY", "1984-07-09", None, "1984"),
        ("DOBM", "1984-07-09", None, "07"),
        ("DOBD", "1984-07-09", None, "09"),
        ("EMAIL", "not-an-email", None, None),
        ("PHONE", "12", "US", None),
        ("PHONE", "06 12 34 56 78", "FR", "33612345678"),
        ("EXTERN_ID", " u42 ", None, "u42"),
    ],
)
def test_meta_rules(key, raw, country, expected):
    assert ids.meta_normalize(key, raw, country) == expected


def test_meta_extern_id_is_not_hashed_and_empty_cells_are_empty():
    assert ids.meta_hash("EXTERN_ID", "u42") == "u42"
    assert ids.meta_hash("EMAIL", "") == ""
    assert ids.meta_hash("EMAIL", None) == ""


def test_google_documented_vectors():
    raw = " Jane.Doe+promo@GMAIL.com "
    assert ids.google_ads_email(raw) == "jane.doe+promo@gmail.com"
    assert ids.google_hash("email", raw, api="ads") == (
        "5f0d1df1fc49e30424381b57b1d4c73e067772a4267dde043a19b026935602c8"
    )
    assert ids.google_dm_email(raw) == "janedoe@gmail.com"
    assert ids.google_hash("email", raw, api="dm") == (
        "d6117306485ed0e50afab3ac871e98f81699151f30281527d63ff5f233656c69"
    )
    assert ids.google_phone("(650) 555-1234", "US") == "+16505551234"
    assert ids.google_hash("phone", "(650) 555-1234", "US") == (
        "a2996076d3ad4af5dc818b908b3d8e354f26ededf7df0e0aa6ac354143805ee0"
    )
    assert ids.google_hash("first_name", " Jane ") == (
        "81f8f6dde88365f3928796ec7aa53f72820b06db8664f5fe76a7eb13e24546a2"
    )
    assert ids.google_hash("last_name", "Doe") == (
        "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"
    )
    # country and postal code are sent in clear
    assert ids.google_region("us") == "US" and ids.google_postal(" 94105 ") == "94105"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("J a n e@Example.com", "jane@example.com"),  # all whitespace removed
        ("j.a.n.e+x@googlemail.com", "jane@googlemail.com"),
        ("jane.doe+x@example.com", "jane.doe+x@example.com"),  # only Gmail loses dots / tags
        ("@gmail.com", None),
    ],
)
def test_google_data_manager_email_rules(raw, expected):
    assert ids.google_dm_email(raw) == expected


def test_braze_and_hubspot_local_vectors():
    assert ids.braze_email(" Jane.Doe@Example.com ") == "jane.doe@example.com"
    assert ids.local_dedup_hash("jane.doe@example.com") == (
        "86e0b9e56c17cc4d12387e1949b85053fbe73bc3ce5a1188713a9d300cc6133d"
    )
    assert ids.braze_phone("(504) 327-7269", "US") == "+15043277269"
    assert ids.local_dedup_hash("+15043277269") == (
        "d2b810bd1f56c679d6c3bedac6588ee8f93ba40dd635c1bb30f763f27f83d16f"
    )


# --- the fast paths equal the general rule ---------------------------------------------------


def _clean_reference(value: object) -> str:
    return "" if value is None else unicodedata.normalize("NFC", str(value)).strip()


def _letters_reference(value: str) -> str:
    return "".join(ch for ch in value.lower() if ch.isalpha())


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=30) | st.text(max_size=30))
def test_ascii_fast_paths_equal_the_unicode_rules(text):
    assert ids._clean(text) == _clean_reference(text)
    assert ids._letters(text) == _letters_reference(text)


@settings(max_examples=200, deadline=None)
@given(
    st.fixed_dictionaries(
        {
            k: st.sampled_from(["", " Chloé ", "JOSÉ", "o'brien", "75001", "94105-1234", "Ab 12"])
            for k in ("FN", "LN", "CT", "ST", "ZIP", "GEN")
        }
        | {
            "COUNTRY": st.sampled_from(["US", "fr", "", "Deutschland"]),
            "DOB": st.sampled_from(["", "1970-01-31", "not a date", "2001-02-03T04:05:06"]),
            "EMAIL": st.sampled_from(["", "A@B.co", "bad@@x"]),
            "PHONE": st.sampled_from(["", "+1 (650) 555-1234", "06 12 34 56 78", "12"]),
        }
    )
)
def test_meta_row_hasher_equals_meta_hash_key_by_key(fields):
    keys = ["EMAIL", "PHONE", "FN", "LN", "CT", "ST", "ZIP", "COUNTRY", "DOB", "GEN"]
    hasher = ids.MetaRowHasher(keys)
    expected = []
    for k in keys:
        if k == "DOB":
            expected += [ids.meta_hash(p, fields[k]) for p in ("DOBY", "DOBM", "DOBD")]
        else:
            expected.append(ids.meta_hash(k, fields[k], fields["COUNTRY"]))
    assert hasher(fields) == expected
    assert hasher(fields) == expected  # the second time from the value caches
