"""CRM records: several versions per person (latest `updated_at` wins), consent, erasure."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from audiences.generator.catalog import PLACES
from audiences.generator.commerce import DAY, HOUR, MIN
from audiences.generator.ids import nullable_timestamps, repeat_index, timestamps

FIRST_F = ("Emma", "Olivia", "Ava", "Sophia", "Mia", "Isabella", "Charlotte", "Amelia", "Grace",
           "Chloe", "Lucy", "Hannah", "Sarah", "Laura", "Julia", "Anna", "Lea", "Camille", "Zoe",
           "Maya")  # fmt: skip
FIRST_M = ("Liam", "Noah", "Oliver", "James", "Lucas", "Ethan", "Mason", "Leo", "Jack", "Henry",
           "Samuel", "Daniel", "David", "Thomas", "Max", "Paul", "Adam", "Hugo", "Ben",
           "Omar")  # fmt: skip
LAST = ("Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Martin",
        "Wilson", "Taylor", "Clark", "Lewis", "Walker", "Young", "King", "Wright", "Lopez", "Hill",
        "Green", "Baker", "Nelson", "Muller", "Schmidt", "Dubois", "Moreau", "Murphy", "Kelly",
        "Nguyen", "Patel", "Kim", "Chen")  # fmt: skip
DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "hotmail.com", "proton.me")
DIAL = {"US": "+1", "CA": "+1", "GB": "+44", "IE": "+353", "DE": "+49", "FR": "+33",
        "NL": "+31", "ES": "+34", "AU": "+61"}  # fmt: skip
ERASURE_SHARE = 0.005


def build_customers(
    rng: np.random.Generator,
    user_id: pa.Array,
    place: np.ndarray,
    email_consent: np.ndarray,
    ads_consent: np.ndarray,
    signup: np.ndarray,
    unsubscribed_at: np.ndarray,
    as_of: int,
) -> pa.Table:
    """All versions for new persons (parallel per-person arrays)."""
    n = len(signup)
    never = np.iinfo(np.int64).max
    # --- person constants
    gender_code = rng.choice(3, n, p=[0.49, 0.47, 0.04])  # female, male, unknown
    first_idx = rng.integers(0, 20, n)
    first = np.where(gender_code == 1, np.array(FIRST_M)[first_idx], np.array(FIRST_F)[first_idx])
    last = np.array(LAST)[rng.integers(0, len(LAST), n)]
    dom = np.array(DOMAINS)[rng.choice(len(DOMAINS), n, p=[0.45, 0.1, 0.15, 0.15, 0.1, 0.05])]
    num = rng.integers(1, 999, n)
    email = np.char.add(
        np.char.add(np.char.add(np.char.lower(first), "."), np.char.lower(last)),
        np.char.add(num.astype(str), np.char.add("@", dom)),
    )
    messy = rng.random(n) < 0.04  # mixed case / padding: staging must normalise
    email = np.where(messy, np.char.add(" ", np.char.title(email)), email)
    birth_days = (as_of // DAY) - rng.integers(18 * 365, 78 * 365, n)
    countries = np.array([p[0] for p in PLACES])[place]
    dial = np.array([DIAL[c] for c in countries]) if n else np.array([], dtype=str)
    digits = rng.integers(2_000_000_000, 9_999_999_999, n).astype(str)
    phone = np.char.add(np.char.add(dial, " "), digits)
    has_phone = rng.random(n) < 0.7
    postal = rng.integers(10000, 99999, n).astype(str)

    # --- versions: signup, a few profile updates, consent changes, erasure
    # older accounts have had more profile updates
    extra = rng.poisson(0.3 + 0.7 * np.minimum(1.0, (as_of - signup) / (365 * DAY)), n)
    v_person = repeat_index(1 + extra)
    v_pos = np.arange(len(v_person)) - np.repeat(np.cumsum(1 + extra) - (1 + extra), 1 + extra)
    span = np.maximum(as_of - signup, HOUR)
    v_time = np.where(
        v_pos == 0,
        signup[v_person],
        signup[v_person] + (rng.random(len(v_person)) * span[v_person]).astype(np.int64),
    )
    # consent flips on later versions
    flip_email = (v_pos > 0) & (rng.random(len(v_person)) < 0.08)
    flip_ads = (v_pos > 0) & (rng.random(len(v_person)) < 0.1)
    unsub = unsubscribed_at < never
    u_person = np.flatnonzero(unsub)
    erased = rng.random(n) < ERASURE_SHARE
    e_person = np.flatnonzero(erased)
    person = np.concatenate([v_person, u_person, e_person])
    vt = np.concatenate([v_time, unsubscribed_at[u_person], np.zeros(len(e_person), np.int64)])
    kind = np.concatenate(
        [np.where(v_pos == 0, 0, 1), np.full(len(u_person), 2), np.full(len(e_person), 3)]
    )
    fe = np.concatenate([flip_email, np.zeros(len(u_person) + len(e_person), bool)])
    fa = np.concatenate([flip_ads, np.zeros(len(u_person) + len(e_person), bool)])
    # erasure comes after the person's last version
    last_t = np.full(n, 0, dtype=np.int64)
    np.maximum.at(last_t, person[kind < 3], vt[kind < 3])
    er = kind == 3
    gap = (rng.random(int(er.sum())) * np.maximum(as_of - last_t[person[er]], MIN)).astype(np.int64)
    vt[er] = np.minimum(last_t[person[er]] + np.maximum(gap, MIN), as_of)
    vt = np.minimum(vt, as_of)
    order = np.lexsort((kind, vt, person))
    person, vt, kind, fe, fa = person[order], vt[order], kind[order], fe[order], fa[order]

    # running consent per person: xor of flips, unsubscribe forces email consent off
    key = person.astype(np.int64)
    cum_fe = _group_cumsum(key, fe.astype(np.int64)) % 2 == 1
    cum_fa = _group_cumsum(key, fa.astype(np.int64)) % 2 == 1
    unsub_seen = _group_cumsum(key, (kind == 2).astype(np.int64)) > 0
    e_cons = (email_consent[person] ^ cum_fe) & ~unsub_seen
    a_cons = ads_consent[person] ^ cum_fa
    first_version = np.ones(len(key), dtype=bool)
    first_version[1:] = key[1:] != key[:-1]
    changed = first_version.copy()
    changed[1:] |= (e_cons[1:] != e_cons[:-1]) | (a_cons[1:] != a_cons[:-1])
    consent_t = _group_last_true(key, changed, vt)
    deleted = kind == 3
    moved = (kind == 1) & (rng.random(len(person)) < 0.15)
    moved_seen = _group_cumsum(key, moved.astype(np.int64)) > 0
    post = np.where(moved_seen, rng.integers(10000, 99999, len(person)).astype(str), postal[person])

    gender_names = np.array(["female", "male", "unknown"])
    return pa.table(
        {
            "user_id": user_id.take(pa.array(person)),
            "email": pa.array(email[person], type=pa.string()),
            "phone": pa.array(phone[person], type=pa.string(), mask=~has_phone[person]),
            "first_name": pa.array(first[person], type=pa.string()),
            "last_name": pa.array(last[person], type=pa.string()),
            "birth_date": pa.array(birth_days[person].astype("datetime64[D]")),
            "gender": pa.array(gender_names[gender_code[person]], type=pa.string()),
            "country": pa.array(countries[person], type=pa.string()),
            "region": pa.array(np.array([p[1] for p in PLACES])[place[person]], type=pa.string()),
            "city": pa.array(np.array([p[2] for p in PLACES])[place[person]], type=pa.string()),
            "postal_code": pa.array(post, type=pa.string()),
            "signup_at": timestamps(signup[person] * 1000),
            "updated_at": timestamps(vt * 1000),
            "email_consent": pa.array(e_cons),
            "ads_consent": pa.array(a_cons),
            "consent_updated_at": timestamps(consent_t * 1000),
            "deleted_at": nullable_timestamps(vt * 1000, deleted),
        }
    )


def update_versions(
    rng: np.random.Generator, latest: pa.Table, t0: int, t1: int, unsubscribed_at: np.ndarray
) -> pa.Table:
    """New versions of existing people (rows of their latest version) during [t0, t1):
    profile touches, consent changes and unsubscribes."""
    n = latest.num_rows
    never = np.iinfo(np.int64).max
    if n == 0:
        return latest
    touch_prob = min(0.2, 0.2 * (t1 - t0) / (30 * DAY) + 0.02)
    touch = (rng.random(n) < touch_prob) | (unsubscribed_at < never)
    idx = np.flatnonzero(touch)
    t = np.where(
        unsubscribed_at[idx] < never,
        unsubscribed_at[idx],
        rng.integers(t0, max(t1, t0 + 1), len(idx)),
    )
    t = np.minimum(t, t1)
    rows = latest.take(pa.array(idx))
    e_old = np.asarray(rows["email_consent"].to_numpy(zero_copy_only=False), dtype=bool)
    a_old = np.asarray(rows["ads_consent"].to_numpy(zero_copy_only=False), dtype=bool)
    flip_a = rng.random(len(idx)) < 0.1
    e_new = np.where(unsubscribed_at[idx] < never, False, e_old)
    a_new = a_old ^ flip_a
    changed = (e_new != e_old) | flip_a
    old_consent = rows["consent_updated_at"].cast(pa.int64()).to_numpy(zero_copy_only=False)
    consent_t = np.where(changed, t * 1000, old_consent)
    rows = rows.set_column(
        rows.schema.get_field_index("updated_at"), "updated_at", timestamps(t * 1000)
    )
    rows = rows.set_column(
        rows.schema.get_field_index("email_consent"), "email_consent", pa.array(e_new)
    )
    rows = rows.set_column(
        rows.schema.get_field_index("ads_consent"), "ads_consent", pa.array(a_new)
    )
    rows = rows.set_column(
        rows.schema.get_field_index("consent_updated_at"),
        "consent_updated_at",
        timestamps(consent_t),
    )
    return rows


def _group_cumsum(key: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Running sum of `values` restarting at each new (sorted) key."""
    cs = np.cumsum(values)
    starts = np.ones(len(key), dtype=bool)
    starts[1:] = key[1:] != key[:-1]
    start_idx = np.maximum.accumulate(np.where(starts, np.arange(len(key)), 0))
    return cs - cs[start_idx] + values[start_idx]


def _group_last_true(key: np.ndarray, flag: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row: `values` at the latest row so far in the key's run where `flag` was True."""
    n = len(key)
    pos = np.where(flag, np.arange(n), -1)
    last = np.maximum.accumulate(pos)
    return values[np.maximum(last, 0)]
