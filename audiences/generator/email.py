"""Email engagement: weekly newsletters, promos and abandoned-cart emails to consenting people.

send → delivered | bounce; delivered → open → click; some unsubscribe (no later sends)
or report spam. Rates follow common retail email benchmarks (opens ~25 %, clicks ~3 %
of delivered, bounces ~2-3 %, unsubscribes ~0.3 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa

from audiences.generator.catalog import strings
from audiences.generator.commerce import DAY, HOUR, MIN, SEC
from audiences.generator.ids import lookup, timestamps, uuid_ids

EMAIL_EVENT_TYPES = ("send", "delivered", "open", "click", "bounce", "unsubscribe", "spam_report")
SEND, DELIVERED, OPEN, CLICK, BOUNCE, UNSUB, SPAM = range(7)
EPOCH = datetime(1970, 1, 1)
TRIGGER_CAMPAIGN = "trg_abandoned_cart"


@dataclass
class Campaigns:
    campaign_id: pa.Array
    time: np.ndarray  # ms


def campaigns_between(t0: int, t1: int) -> Campaigns:
    """Weekly digest on Tuesdays 15:00 UTC and a promo on Fridays 17:00 UTC every other week."""
    start = EPOCH + timedelta(milliseconds=int(t0))
    day0 = datetime(start.year, start.month, start.day)
    ids: list[str] = []
    times: list[int] = []
    d = day0
    end = EPOCH + timedelta(milliseconds=int(t1))
    while d <= end:
        slot = None
        if d.weekday() == 1:
            slot = (d.replace(hour=15), "weekly_digest")
        elif d.weekday() == 4 and d.isocalendar()[1] % 2 == 0:
            slot = (d.replace(hour=17), "promo")
        if slot is not None:
            ms = int((slot[0] - EPOCH).total_seconds() * 1000)
            if t0 <= ms < t1:
                ids.append(f"cmp_{slot[0]:%Y%m%d}_{slot[1]}")
                times.append(ms)
        d += timedelta(days=1)
    return Campaigns(pa.array(ids, type=pa.string()), np.array(times, dtype=np.int64))


@dataclass
class EmailResult:
    table: pa.Table
    unsubscribed_at: np.ndarray  # per person, ms (int64 max if never)


def build_email_events(
    rng: np.random.Generator,
    user_id: pa.Array,
    eligible: np.ndarray,
    signup: np.ndarray,
    campaigns: Campaigns,
    as_of: int,
    load_floor: int | None,
    id_salt: int,
    id_offset: int,
    triggered_person: np.ndarray | None = None,
    triggered_time: np.ndarray | None = None,
) -> EmailResult:
    """Broadcast campaigns to every eligible person (90 % of them per send), plus triggered
    abandoned-cart emails (`triggered_person` at `triggered_time`, eligible ones only)."""
    n_p, n_c = len(eligible), len(campaigns.time)
    never = np.iinfo(np.int64).max
    persons = np.flatnonzero(eligible)
    pp = np.repeat(persons, n_c)
    cc = np.tile(np.arange(n_c), len(persons))
    ok = (signup[pp] < campaigns.time[cc]) & (rng.random(len(pp)) < 0.9)
    pp, cc = pp[ok], cc[ok]
    send_t = campaigns.time[cc] + rng.integers(0, 45 * MIN, len(pp))
    if triggered_person is not None and triggered_time is not None:
        keep = eligible[triggered_person] & (signup[triggered_person] < triggered_time)
        pp = np.concatenate([pp, triggered_person[keep]])
        cc = np.concatenate([cc, np.full(int(keep.sum()), n_c)])
        send_t = np.concatenate([send_t, triggered_time[keep]])
    campaign_ids = pa.concat_arrays([campaigns.campaign_id, pa.array([TRIGGER_CAMPAIGN])])
    n = len(pp)
    if n == 0:
        return EmailResult(_empty(), np.full(n_p, never, dtype=np.int64))
    open_rate = rng.beta(1.3, 3.2, n_p)
    bad_address = rng.random(n_p) < 0.015
    bounced = np.where(bad_address[pp], rng.random(n) < 0.8, rng.random(n) < 0.01)
    delivered_t = send_t + rng.integers(SEC, 90 * SEC, n)
    opened = ~bounced & (rng.random(n) < open_rate[pp])
    open_t = delivered_t + np.minimum(rng.lognormal(np.log(3 * HOUR), 1.3, n), 6 * DAY).astype(
        np.int64
    )
    clicked = opened & (rng.random(n) < 0.13)
    click_t = open_t + rng.integers(3 * SEC, 4 * MIN, n)
    unsub = ~bounced & (rng.random(n) < 0.004)
    unsub_t = np.where(opened, open_t, delivered_t) + rng.integers(10 * SEC, 10 * MIN, n)
    spam = ~bounced & ~unsub & (rng.random(n) < 0.0006)
    spam_t = delivered_t + rng.integers(MIN, 2 * DAY, n)

    # nobody is mailed after unsubscribing or reporting spam
    stop = np.full(n_p, never, dtype=np.int64)
    np.minimum.at(stop, pp[unsub], unsub_t[unsub])
    np.minimum.at(stop, pp[spam], spam_t[spam])
    alive = send_t <= stop[pp]

    parts = [
        (np.ones(n, bool), SEND, send_t),
        (~bounced, DELIVERED, delivered_t),
        (bounced, BOUNCE, delivered_t),
        (opened, OPEN, open_t),
        (clicked, CLICK, click_t),
        (unsub, UNSUB, unsub_t),
        (spam, SPAM, spam_t),
    ]
    rows, types, times = [], [], []
    for mask, etype, t in parts:
        idx = np.flatnonzero(mask & alive & (t <= as_of))
        rows.append(idx)
        types.append(np.full(len(idx), etype, dtype=np.int8))
        times.append(t[idx])
    row = np.concatenate(rows)
    etype = np.concatenate(types)
    occurred = np.concatenate(times)
    loaded = occurred + rng.integers(30 * SEC, 20 * MIN, len(row))
    if load_floor is not None:
        loaded = np.maximum(loaded, load_floor + rng.integers(1, 10 * MIN, len(row)))
    loaded = np.minimum(loaded, as_of)
    order = np.lexsort((etype, row, occurred))
    row, etype, occurred, loaded = row[order], etype[order], occurred[order], loaded[order]
    unsub_final = np.full(n_p, never, dtype=np.int64)
    done = (etype == UNSUB) | (etype == SPAM)
    np.minimum.at(unsub_final, pp[row[done]], occurred[done])
    table = pa.table(
        {
            "event_id": uuid_ids(id_offset + np.arange(len(row), dtype=np.int64), id_salt),
            "user_id": user_id.take(pa.array(pp[row])),
            "campaign_id": campaign_ids.take(pa.array(cc[row])),
            "event_type": lookup(strings(EMAIL_EVENT_TYPES), etype),
            "occurred_at": timestamps(occurred * 1000),
            "loaded_at": timestamps(loaded * 1000),
        }
    )
    return EmailResult(table, unsub_final)


def _empty() -> pa.Table:
    return pa.table(
        {
            "event_id": pa.array([], pa.string()),
            "user_id": pa.array([], pa.string()),
            "campaign_id": pa.array([], pa.string()),
            "event_type": pa.array([], pa.string()),
            "occurred_at": pa.array([], pa.timestamp("us")),
            "loaded_at": pa.array([], pa.timestamp("us")),
        }
    )
