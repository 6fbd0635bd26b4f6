"""Who visits: devices (cookies / app installs) with a behaviour archetype, and their people.

A device belongs to at most one primary person (set when the person is known to the shop)
and, on shared devices, a second person. Persons are always attached to a device of the
batch, so a batch can be cut at a device boundary without orphaning anyone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from audiences.generator.catalog import CATEGORY_WEIGHTS, DEVICES, PLACES, catalog, strings
from audiences.generator.ids import hex_ids, uuid_ids

ARCHETYPES = (
    "one_visit_bounce",
    "window_shopper",
    "content_reader",
    "cart_abandoner",
    "high_intent",
    "loyal_buyer",
    "lapsed_buyer",
)
BOUNCE, WINDOW, CONTENT, ABANDONER, HIGH_INTENT, LOYAL, LAPSED = range(7)
ARCHETYPE_WEIGHTS = np.array([0.36, 0.265, 0.12, 0.09, 0.07, 0.038, 0.057])
# probability that the person behind a device is known to the shop (has an account)
KNOWN_PROB = np.array([0.02, 0.12, 0.25, 0.35, 0.6, 1.0, 1.0])
SHARED_DEVICE_PROB = 0.025
DEVICE_ATTRS = ("device_type", "browser", "os", "country", "region", "city")


@dataclass
class Population:
    """Devices and persons of one batch (parallel numpy / Arrow arrays)."""

    anonymous_id: pa.Array
    attrs: dict[str, pa.Array]  # device_type, browser, os, country, region, city (per device)
    is_app: np.ndarray
    zone: np.ndarray  # index into catalog.TIME_ZONES, -1 unknown (treated as UTC)
    archetype: np.ndarray
    interest: np.ndarray  # favourite category index
    primary: np.ndarray  # person index or -1
    secondary: np.ndarray  # second person on a shared device or -1
    identified_already: np.ndarray  # device already carries a user_id from earlier loads
    # persons
    user_id: pa.Array
    person_device: np.ndarray
    person_archetype: np.ndarray
    person_is_new: np.ndarray
    person_place: np.ndarray  # index into PLACES, -1 if unknown
    email_consent: np.ndarray
    ads_consent: np.ndarray

    @property
    def n_devices(self) -> int:
        return len(self.archetype)

    @property
    def n_persons(self) -> int:
        return len(self.person_device)


def _persons_for(
    rng: np.random.Generator,
    n_devices: int,
    archetype: np.ndarray,
    known: np.ndarray,
    existing_user: pa.Array | None,
    place: np.ndarray,
    id_salt: int,
    id_offset: int,
    shared_prob: float = SHARED_DEVICE_PROB,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray | pa.Array]]:
    """Create primary and secondary persons for devices flagged `known`."""
    dev_primary = np.flatnonzero(known)
    shared = known & (archetype != BOUNCE) & (rng.random(n_devices) < shared_prob)
    dev_secondary = np.flatnonzero(shared)
    person_device = np.concatenate([dev_primary, dev_secondary])
    n_primary, n_persons = len(dev_primary), len(person_device)
    primary = np.full(n_devices, -1, dtype=np.int64)
    primary[dev_primary] = np.arange(n_primary)
    secondary = np.full(n_devices, -1, dtype=np.int64)
    secondary[dev_secondary] = n_primary + np.arange(len(dev_secondary))

    person_arch = np.concatenate(
        [archetype[dev_primary], np.full(len(dev_secondary), WINDOW, dtype=np.int8)]
    ).astype(np.int8)
    new_ids = hex_ids("u_", id_offset + np.arange(n_persons, dtype=np.int64), id_salt, 14)
    is_new = np.ones(n_persons, dtype=bool)
    user_id: pa.Array = new_ids
    if existing_user is not None:
        # returning devices that already carry a user_id keep their person
        ex = existing_user.take(pa.array(person_device))
        has = ~np.asarray(ex.is_null().to_numpy(zero_copy_only=False))
        has[n_primary:] = False
        is_new = ~has
        user_id = pa.array(
            np.where(
                has,
                ex.to_numpy(zero_copy_only=False),
                new_ids.to_numpy(zero_copy_only=False),
            ),
            type=pa.string(),
        )
    own_place = np.where(rng.random(n_persons) < 0.9, place[person_device], -1)
    fallback = rng.choice(len(PLACES), n_persons, p=catalog().place_weights)
    person_place = np.where(own_place >= 0, own_place, fallback)
    fields = {
        "user_id": user_id,
        "person_device": person_device,
        "person_archetype": person_arch,
        "person_is_new": is_new,
        "person_place": person_place,
        "email_consent": rng.random(n_persons) < 0.64,
        "ads_consent": rng.random(n_persons) < 0.48,
    }
    return primary, secondary, fields


def new_population(
    rng: np.random.Generator,
    n_devices: int,
    id_salt: int,
    device_offset: int,
    person_offset: int,
) -> Population:
    """Fresh devices: archetype, device, place, interests and the persons behind them."""
    cat = catalog()
    archetype = rng.choice(len(ARCHETYPES), n_devices, p=ARCHETYPE_WEIGHTS).astype(np.int8)
    dev_combo = rng.choice(len(DEVICES), n_devices, p=cat.device_weights)
    place = rng.choice(len(PLACES), n_devices, p=cat.place_weights)
    interest = rng.choice(
        len(CATEGORY_WEIGHTS), n_devices, p=CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum()
    )
    known = rng.random(n_devices) < KNOWN_PROB[archetype]
    dev_idx = pa.array(dev_combo)
    place_idx = pa.array(place)
    attrs = {
        "device_type": strings([d[0] for d in DEVICES]).take(dev_idx),
        "browser": strings([d[1] for d in DEVICES]).take(dev_idx),
        "os": strings([d[2] for d in DEVICES]).take(dev_idx),
        "country": strings([p[0] for p in PLACES]).take(place_idx),
        "region": strings([p[1] for p in PLACES]).take(place_idx),
        "city": strings([p[2] for p in PLACES]).take(place_idx),
    }
    primary, secondary, persons = _persons_for(
        rng, n_devices, archetype, known, None, place, id_salt, person_offset
    )
    return Population(
        anonymous_id=uuid_ids(
            device_offset + np.arange(n_devices, dtype=np.int64), id_salt ^ 0xA5A5
        ),
        attrs=attrs,
        is_app=cat.device_is_app[dev_combo],
        zone=cat.place_zone[place],
        archetype=archetype,
        interest=interest,
        primary=primary,
        secondary=secondary,
        identified_already=np.zeros(n_devices, dtype=bool),
        **persons,
    )


def returning_population(
    rng: np.random.Generator, pool: pa.Table, id_salt: int, person_offset: int
) -> Population:
    """Devices already present in raw.events (columns: anonymous_id, DEVICE_ATTRS, user_id,
    is_app) coming back; anonymous ones sometimes log in now (stitching their history)."""
    cat = catalog()
    n = pool.num_rows
    has_user = ~np.asarray(pool["user_id"].is_null().to_numpy(zero_copy_only=False))
    archetype = np.where(
        has_user,
        rng.choice([WINDOW, CONTENT, HIGH_INTENT, LOYAL], n, p=[0.3, 0.2, 0.2, 0.3]),
        rng.choice(
            [BOUNCE, WINDOW, CONTENT, ABANDONER, HIGH_INTENT], n, p=[0.3, 0.35, 0.15, 0.12, 0.08]
        ),
    ).astype(np.int8)
    known = has_user | (rng.random(n) < 0.15)
    city_to_place = {p[2]: i for i, p in enumerate(PLACES)}
    place = np.array([city_to_place.get(c, -1) for c in pool["city"].to_pylist()], dtype=np.int64)
    zone = np.where(place >= 0, cat.place_zone[np.maximum(place, 0)], -1)
    user_col = pool["user_id"].combine_chunks()
    primary, secondary, persons = _persons_for(
        rng, n, archetype, known, user_col, place, id_salt, person_offset, shared_prob=0.0
    )
    return Population(
        anonymous_id=pool["anonymous_id"].combine_chunks(),
        attrs={a: pool[a].combine_chunks() for a in DEVICE_ATTRS},
        is_app=np.asarray(pool["is_app"].to_numpy(zero_copy_only=False), dtype=bool),
        zone=zone.astype(np.int64),
        archetype=archetype,
        interest=rng.choice(len(CATEGORY_WEIGHTS), n),
        primary=primary,
        secondary=secondary,
        identified_already=has_user,
        **persons,
    )


def concat(a: Population, b: Population) -> Population:
    """Devices of `a` followed by devices of `b` (person indices of `b` shifted)."""
    shift = a.n_persons
    dev_shift = a.n_devices

    def ref(x: np.ndarray) -> np.ndarray:
        return np.where(x >= 0, x + shift, -1)

    def cat_pa(x: pa.Array, y: pa.Array) -> pa.Array:
        return pa.concat_arrays([x.cast(pa.string()), y.cast(pa.string())])

    return Population(
        anonymous_id=cat_pa(a.anonymous_id, b.anonymous_id),
        attrs={k: cat_pa(a.attrs[k], b.attrs[k]) for k in DEVICE_ATTRS},
        is_app=np.concatenate([a.is_app, b.is_app]),
        zone=np.concatenate([a.zone, b.zone]),
        archetype=np.concatenate([a.archetype, b.archetype]),
        interest=np.concatenate([a.interest, b.interest]),
        primary=np.concatenate([a.primary, ref(b.primary)]),
        secondary=np.concatenate([a.secondary, ref(b.secondary)]),
        identified_already=np.concatenate([a.identified_already, b.identified_already]),
        user_id=cat_pa(a.user_id, b.user_id),
        person_device=np.concatenate([a.person_device, b.person_device + dev_shift]),
        person_archetype=np.concatenate([a.person_archetype, b.person_archetype]),
        person_is_new=np.concatenate([a.person_is_new, b.person_is_new]),
        person_place=np.concatenate([a.person_place, b.person_place]),
        email_consent=np.concatenate([a.email_consent, b.email_consent]),
        ads_consent=np.concatenate([a.ads_consent, b.ads_consent]),
    )
