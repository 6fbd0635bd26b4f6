"""Click stream: sessions → page views → events (views, heartbeats, actions), vectorised.

Rules the downstream models rely on:
- a device's sessions are separated by more than 30 minutes of inactivity; inside a session
  consecutive events are at most 20 minutes apart;
- web events carry no session_id; app devices carry a tracker session id per session;
- referrer and utm_* are set on the landing page view of a session only;
- page pings: one per 30 s of active time on a page (engaged_seconds <= 30), only on page
  views that stay open at least 30 s;
- the user_id appears from the login session on (earlier sessions of the device stay
  anonymous, so downstream identity stitching has work to do); purchase sessions are always
  identified; on shared devices later sessions alternate between two users;
- delivery: ~2 % of events land 1-72 h late, ~1 % are delivered twice (the copy loads later).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from audiences.generator.catalog import (
    CHANNELS,
    EV,
    EVENT_TYPES,
    HOUR_WEIGHTS,
    PAGE_TYPES,
    PT,
    SEARCH_TERMS,
    TIME_ZONES,
    catalog,
    category_names,
    strings,
)
from audiences.generator.commerce import DAY, HOUR, MIN, SEC, Purchases, random_products
from audiences.generator.ids import lookup, rank_in_group, repeat_index, timestamps, uuid_ids
from audiences.generator.population import BOUNCE, DEVICE_ATTRS, Population
from audiences.generator.timezones import zone_offsets

INACTIVITY = 30 * MIN
MAX_DWELL = 20 * MIN
PING_INTERVAL = 30 * SEC
LATE_SHARE = 0.02
DUPLICATE_SHARE = 0.01

# per archetype: bounce, window, content, abandoner, high_intent, loyal, lapsed
EXTRA_SESSIONS = np.array([0.0, 2.5, 4.5, 3.5, 5.5, 7.0, 1.2])  # mean extra sessions / 90 d
BOUNCE_PROB = np.array([1.0, 0.5, 0.45, 0.38, 0.3, 0.35, 0.6])
EXTRA_PAGES = np.array([0.0, 2.6, 2.2, 3.2, 4.5, 3.0, 1.6])  # mean pages beyond 2
CART_PROB = np.array([0.0, 0.02, 0.01, 0.32, 0.2, 0.12, 0.05])
CHECKOUT_GIVEN_CART = 0.3
LOGIN_AT_FIRST = np.array([0.6, 0.45, 0.45, 0.4, 0.5, 0.7, 0.3])
# comparison shopping: chance that a session starts a visit cluster with return visits,
# the mean number of return visits beyond the first, and when they happen after it
CLUSTER_PROB = np.array([0.0, 0.45, 0.15, 0.5, 0.55, 0.25, 0.1])
EXTRA_RETURNS = np.array([0.0, 1.2, 0.5, 1.2, 1.2, 0.8, 0.5])
RETURN_WINDOW = (35 * MIN, 20 * HOUR)
# return visits mostly look again: fewer pages and carts (carts stay ~70 % abandoned)
RETURN_CART_FACTOR = 0.25
RETURN_PAGES_FACTOR = 0.5
# chance that a product page view shows the visit cluster's focus product (a revisit):
# in a cluster with return visits (comparison shopping), else per archetype
FOCUS_PROB_SHOPPING = 0.8
FOCUS_PROB = np.array([0.0, 0.08, 0.05, 0.1, 0.1, 0.08, 0.05])
RETURN_LANDS_ON_FOCUS = 0.6

_PT_N = len(PAGE_TYPES)
# landing page type distribution per archetype (home, category, product, cart, checkout,
# content, search, account, other)
LANDING = np.array(
    [
        [0.35, 0.15, 0.30, 0, 0, 0.15, 0.02, 0.0, 0.03],
        [0.35, 0.20, 0.33, 0, 0, 0.08, 0.02, 0.0, 0.02],
        [0.15, 0.05, 0.10, 0, 0, 0.68, 0.01, 0.0, 0.01],
        [0.35, 0.20, 0.38, 0, 0, 0.04, 0.02, 0.0, 0.01],
        [0.30, 0.18, 0.45, 0, 0, 0.03, 0.03, 0.0, 0.01],
        [0.45, 0.15, 0.30, 0, 0, 0.04, 0.02, 0.03, 0.01],
        [0.40, 0.20, 0.25, 0, 0, 0.10, 0.02, 0.01, 0.02],
    ]
)
BROWSE = np.array(
    [
        [0.10, 0.25, 0.50, 0.01, 0.0, 0.06, 0.06, 0.01, 0.01],
        [0.08, 0.26, 0.51, 0.01, 0.0, 0.05, 0.07, 0.01, 0.01],
        [0.05, 0.05, 0.10, 0.0, 0.0, 0.73, 0.05, 0.01, 0.01],
        [0.05, 0.20, 0.53, 0.09, 0.0, 0.03, 0.08, 0.01, 0.01],
        [0.03, 0.15, 0.60, 0.09, 0.02, 0.02, 0.07, 0.01, 0.01],
        [0.06, 0.18, 0.49, 0.06, 0.0, 0.06, 0.07, 0.06, 0.02],
        [0.10, 0.25, 0.40, 0.02, 0.0, 0.12, 0.07, 0.02, 0.02],
    ]
)
# mean of the deepest scroll (share of the page) per page type
SCROLL_MEAN = np.array([0.45, 0.55, 0.6, 0.8, 0.85, 0.65, 0.5, 0.7, 0.6])
CAPITALISED_SEARCH_SHARE = 0.12
# median dwell (s) per page type
DWELL_MEDIAN = np.array([25, 35, 80, 50, 90, 140, 30, 45, 35], dtype=float)


@dataclass
class EventFrame:
    """Events of a batch as numpy columns (one row per emitted row, duplicates included)."""

    device: np.ndarray
    session: np.ndarray  # session index within the batch
    person: np.ndarray  # -1 anonymous
    event_type: np.ndarray
    page: np.ndarray
    product: np.ndarray  # -1 none
    engaged: np.ndarray  # -1 null
    term: np.ndarray  # typed search term (index into typed_search_terms()), -1 null
    scroll: np.ndarray  # scroll depth percent on page pings, -1 null
    channel: np.ndarray  # -1 none (only landing views)
    occurred: np.ndarray  # ms
    loaded: np.ndarray  # ms
    serial: np.ndarray  # event serial inside the batch (duplicates share it)
    session_is_app: np.ndarray  # per session
    session_serial: np.ndarray  # per session

    def select(self, mask: np.ndarray) -> EventFrame:
        return EventFrame(
            *(getattr(self, f)[mask] for f in _ROW_FIELDS),
            session_is_app=self.session_is_app,
            session_serial=self.session_serial,
        )

    def __len__(self) -> int:
        return len(self.device)


_ROW_FIELDS = (
    "device",
    "session",
    "person",
    "event_type",
    "page",
    "product",
    "engaged",
    "term",
    "scroll",
    "channel",
    "occurred",
    "loaded",
    "serial",
)


def diurnal_times(
    rng: np.random.Generator,
    n: int,
    t0: int | np.ndarray,
    t1: int | np.ndarray,
    zone: np.ndarray,
) -> np.ndarray:
    """Times in [t0, t1) (ms, UTC; scalars or one window per row, never empty) whose hour in
    the local time of each row's time zone (index into TIME_ZONES, daylight saving time
    included) follows the shop's daily rhythm."""
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    lo = np.broadcast_to(np.asarray(t0, dtype=np.int64), (n,))
    hi = np.broadcast_to(np.asarray(t1, dtype=np.int64), (n,))
    clock = zone_offsets(TIME_ZONES, int(lo.min()), int(hi.max()))
    out = np.full(n, -1, dtype=np.int64)
    todo = np.arange(n)
    for _ in range(6):  # rejection sampling; a few passes cover short windows too
        if len(todo) == 0:
            break
        z, a, b = zone[todo], lo[todo], hi[todo]
        local0 = ((a + clock.at(z, a)) // DAY) * DAY
        days = (b - a + DAY - 1) // DAY + 1
        day = (rng.random(len(todo)) * days).astype(np.int64)
        hour = rng.choice(24, len(todo), p=HOUR_WEIGHTS)
        local = local0 + day * DAY + hour * HOUR + rng.integers(0, HOUR, len(todo))
        t = clock.local_to_utc(z, local)
        ok = (t >= a) & (t < b)
        out[todo[ok]] = t[ok]
        todo = todo[~ok]
    if len(todo):
        out[todo] = lo[todo] + (rng.random(len(todo)) * (hi[todo] - lo[todo])).astype(np.int64)
    return out


def regular_sessions(
    rng: np.random.Generator, pop: Population, t0: int, t1: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Regular (non-purchase) sessions: (device, start ms, visit cluster, is return visit).

    Each device has "anchor" sessions on the local daily curve anywhere in the window. After
    an anchor, with CLUSTER_PROB, the visitor is comparison shopping and comes back
    1 + Poisson(EXTRA_RETURNS) times inside RETURN_WINDOW (still on the local daily curve).
    An anchor and its return visits form one visit cluster, numbered by the anchor's row.
    """
    arch = pop.archetype.astype(np.int64)
    scale = (t1 - t0) / (90 * DAY)
    n_anchor = np.where(arch == BOUNCE, 1, 1 + rng.poisson(EXTRA_SESSIONS[arch] * scale))
    a_dev = repeat_index(n_anchor)
    a_start = diurnal_times(rng, len(a_dev), t0, t1, pop.zone[a_dev])
    a_arch = arch[a_dev]
    room = a_start + RETURN_WINDOW[0] < t1 - MIN
    n_back = np.where(
        room & (rng.random(len(a_dev)) < CLUSTER_PROB[a_arch]),
        1 + rng.poisson(EXTRA_RETURNS[a_arch]),
        0,
    )
    b_anchor = repeat_index(n_back)
    b_base = a_start[b_anchor]
    b_start = diurnal_times(
        rng,
        len(b_anchor),
        b_base + RETURN_WINDOW[0],
        np.minimum(b_base + RETURN_WINDOW[1], t1),
        pop.zone[a_dev[b_anchor]],
    )
    dev = np.concatenate([a_dev, a_dev[b_anchor]])
    start = np.concatenate([a_start, b_start])
    cluster = np.concatenate([np.arange(len(a_dev)), b_anchor])
    is_return = np.concatenate([np.zeros(len(a_dev), bool), np.ones(len(b_anchor), bool)])
    return dev, start, cluster, is_return


def typed_search_terms() -> pa.Array:
    """SEARCH_TERMS as typed: the plain terms, then the same with a capital first letter."""
    return strings([*SEARCH_TERMS, *(t[:1].upper() + t[1:] for t in SEARCH_TERMS)])


def _pick_pages(
    rng: np.random.Generator, ptype: np.ndarray, interest: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Page id and product index (or -1) for page views of the given page types."""
    cat = catalog()
    n = len(ptype)
    page = np.zeros(n, dtype=np.int64)
    product = random_products(rng, n, interest)
    page = np.where(ptype == PT["product"], cat.product_page0 + product, page)
    category = np.where(
        rng.random(n) < 0.6, interest, rng.integers(0, len(cat.category_n_products), n)
    )
    page = np.where(ptype == PT["category"], cat.category_page0 + category, page)
    article = np.minimum((320 * rng.random(n) ** 2.0).astype(np.int64), 319)
    page = np.where(ptype == PT["content"], cat.article_page0 + article, page)
    n_search = cat.account_page0 - cat.search_page0
    page = np.where(ptype == PT["search"], cat.search_page0 + rng.integers(0, n_search, n), page)
    n_acc = cat.other_page0 - cat.account_page0
    page = np.where(ptype == PT["account"], cat.account_page0 + rng.integers(0, n_acc, n), page)
    n_other = cat.cart_page - cat.other_page0
    page = np.where(ptype == PT["other"], cat.other_page0 + rng.integers(0, n_other, n), page)
    page = np.where(ptype == PT["cart"], cat.cart_page, page)
    page = np.where(ptype == PT["checkout"], cat.checkout_page, page)
    return page, np.where(ptype == PT["product"], product, -1)


def _choose_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """Vectorised categorical draw: one column index per row of `probs`."""
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    u = rng.random(len(probs))[:, None]
    return (u > cdf).sum(axis=1)


def build_events(
    rng: np.random.Generator,
    pop: Population,
    t0: int,
    t1: int,
    forced_device: np.ndarray,
    forced_time: np.ndarray,
    load_floor: int | None,
    serial_offset: int,
) -> EventFrame:
    """All events of the devices of `pop` in the window [t0, t1) (ms)."""
    cat = catalog()
    n_dev = pop.n_devices
    arch = pop.archetype.astype(np.int64)

    # ---- sessions --------------------------------------------------------------------
    reg_dev, reg_time, reg_cluster, reg_return = regular_sessions(rng, pop, t0, t1)
    forced_start = np.maximum(forced_time - rng.integers(2 * MIN, 15 * MIN, len(forced_time)), t0)
    s_dev = np.concatenate([reg_dev, forced_device])
    s_start = np.concatenate([reg_time, forced_start])
    s_purchase = np.concatenate([np.zeros(len(reg_dev), bool), np.ones(len(forced_device), bool)])
    # purchase sessions are visit clusters of their own
    s_cluster = np.concatenate([reg_cluster, len(reg_dev) + np.arange(len(forced_device))])
    s_return = np.concatenate([reg_return, np.zeros(len(forced_device), bool)])
    order = np.lexsort((s_start, s_dev))
    s_dev, s_start, s_purchase = s_dev[order], s_start[order], s_purchase[order]
    s_cluster, s_return = s_cluster[order], s_return[order]
    n_s = len(s_dev)
    s_arch = arch[s_dev]
    s_bounce = ~s_purchase & (rng.random(n_s) < BOUNCE_PROB[s_arch])
    cart_prob = CART_PROB[s_arch] * np.where(s_return, RETURN_CART_FACTOR, 1.0)
    depth = np.where(rng.random(n_s) < cart_prob, 1, 0)
    depth = np.where((depth == 1) & (rng.random(n_s) < CHECKOUT_GIVEN_CART), 2, depth)
    depth = np.where(s_bounce, 0, np.where(s_purchase, 3, depth))
    extra_pages = EXTRA_PAGES[s_arch] * np.where(s_return, RETURN_PAGES_FACTOR, 1.0)
    n_base = np.where(s_bounce, 1, 2 + np.minimum(rng.geometric(1 / (1 + extra_pages)) - 1, 58))
    n_pv = n_base + depth

    # ---- page views --------------------------------------------------------------------
    pv_s = repeat_index(n_pv)
    n_view = len(pv_s)
    first_pv = np.cumsum(n_pv) - n_pv
    pos = np.arange(n_view) - first_pv[pv_s]
    base_len = n_base[pv_s]
    tail = pos - base_len  # >= 0 on funnel tail pages
    pv_arch = s_arch[pv_s]
    landing = _choose_rows(rng, LANDING[pv_arch])
    browse = _choose_rows(rng, BROWSE[pv_arch])
    ptype = np.where(pos == 0, landing, browse)
    # a return visit often lands straight on the product considered earlier
    back_to_focus = (pos == 0) & s_return[pv_s] & (rng.random(n_view) < RETURN_LANDS_ON_FOCUS)
    ptype = np.where(back_to_focus, PT["product"], ptype)
    cart_pv = (depth[pv_s] >= 1) & (pos == base_len - 1)
    ptype = np.where(cart_pv, PT["product"], ptype)
    ptype = np.where(tail == 0, PT["cart"], ptype)
    ptype = np.where(tail >= 1, PT["checkout"], ptype)
    page, product = _pick_pages(rng, ptype, pop.interest[s_dev[pv_s]])
    # comparison shopping: product pages of a visit cluster keep coming back to its focus
    n_cluster = int(s_cluster.max(initial=-1)) + 1
    cluster_dev = np.zeros(n_cluster, dtype=np.int64)
    cluster_dev[s_cluster] = s_dev
    focus = random_products(rng, n_cluster, pop.interest[cluster_dev])
    s_shopping = np.bincount(s_cluster, minlength=n_cluster)[s_cluster] > 1
    focus_prob = np.where(s_shopping[pv_s], FOCUS_PROB_SHOPPING, FOCUS_PROB[pv_arch])
    revisit = (ptype == PT["product"]) & (rng.random(n_view) < focus_prob)
    revisit |= back_to_focus
    product = np.where(revisit, focus[s_cluster[pv_s]], product)
    page = np.where(revisit, cat.product_page0 + product, page)
    page = np.where(tail == 2, cat.confirmation_page, page)
    dwell = rng.lognormal(np.log(DWELL_MEDIAN[ptype]), 0.95) * SEC
    dwell = np.clip(dwell, 1 * SEC, MAX_DWELL).astype(np.int64)
    s_length = np.bincount(pv_s, weights=dwell, minlength=n_s).astype(np.int64)

    # ---- keep sessions of a device > 30 min apart (segmented running max) ---------------
    step = s_length + INACTIVITY + MIN
    csum = np.cumsum(step)
    dev_first = np.searchsorted(s_dev, s_dev, side="left")
    before = csum - step - (csum[dev_first] - step[dev_first])  # exclusive, per device
    big = np.int64(1) << np.int64(42)
    v = (s_start - t0 - before) + s_dev.astype(np.int64) * big
    s_new = np.maximum.accumulate(v) - s_dev.astype(np.int64) * big + before + t0
    s_start = s_new

    # ---- who is behind each session ----------------------------------------------------
    s_rank = rank_in_group(s_dev)
    n_sess_dev = np.bincount(s_dev, minlength=n_dev)
    login = np.where(
        rng.random(n_dev) < LOGIN_AT_FIRST[arch],
        0,
        (rng.random(n_dev) * (n_sess_dev + 1)).astype(np.int64),
    )
    login = np.where(pop.identified_already, 0, login)
    first_purchase = np.full(n_dev, np.iinfo(np.int64).max)
    np.minimum.at(first_purchase, s_dev[s_purchase], s_rank[s_purchase])
    login = np.minimum(login, first_purchase)
    s_person = np.where(s_rank >= login[s_dev], pop.primary[s_dev], -1)
    second = pop.secondary[s_dev]
    use_second = (second >= 0) & (s_person >= 0) & ~s_purchase & (s_rank > login[s_dev])
    use_second &= rng.random(n_s) < 0.45
    s_person = np.where(use_second, second, s_person)
    s_is_app = pop.is_app[s_dev]
    channel_p = np.where(s_is_app[:, None], cat.channel_app_weights, cat.channel_web_weights)
    s_channel = _choose_rows(rng, channel_p)

    # ---- page view timing ----------------------------------------------------------------
    cs = np.cumsum(dwell)
    pv_before = cs - dwell - (cs[first_pv] - dwell[first_pv])[pv_s]
    pv_time = s_start[pv_s] + pv_before

    # ---- heartbeats ------------------------------------------------------------------------
    active = dwell * rng.uniform(0.1, 0.55, n_view)
    n_ping = np.where(dwell >= PING_INTERVAL, np.minimum(active // PING_INTERVAL, 20), 0)
    n_ping = n_ping.astype(np.int64)
    ping_pv = repeat_index(n_ping)
    ping_k = np.arange(len(ping_pv)) - np.repeat(np.cumsum(n_ping) - n_ping, n_ping)
    spacing = dwell[ping_pv] // (n_ping[ping_pv] + 1)
    ping_time = pv_time[ping_pv] + (ping_k + 1) * spacing
    ping_engaged = np.minimum(
        30, np.maximum(1, (spacing // SEC) * rng.uniform(0.5, 1.0, len(ping_pv)))
    )

    # ---- scroll depth on heartbeats: deepest point reached so far on the page ----------
    # the first screen is visible at once; deeper parts come into view while reading
    deepest = 100 * rng.beta(4 * SCROLL_MEAN[ptype], 4 * (1 - SCROLL_MEAN[ptype]))
    first_screen = np.minimum(deepest, rng.uniform(12, 35, n_view))
    grow = ((ping_k + 1) / np.maximum(n_ping[ping_pv], 1)) ** 0.7
    reach = first_screen[ping_pv] + (deepest - first_screen)[ping_pv] * grow
    ping_scroll = np.clip(np.round(reach), 0, 100).astype(np.int64)

    # ---- actions -----------------------------------------------------------------------
    d = depth[pv_s]
    s_cart_product = np.full(n_s, -1, dtype=np.int64)
    s_cart_product[pv_s[cart_pv]] = product[cart_pv]
    u = rng.random(n_view)
    actions = [
        (cart_pv, EV["add_to_cart"], 0.6, product),
        (
            (ptype == PT["product"]) & ~cart_pv & (d >= 1) & (u < 0.3),
            EV["add_to_cart"],
            0.6,
            product,
        ),
        ((tail == 0) & (u < 0.12), EV["remove_from_cart"], 0.4, s_cart_product[pv_s]),
        ((tail == 0) & (d >= 2), EV["begin_checkout"], 0.9, np.full(n_view, -1)),
        ((tail == 1) & (d == 3), EV["purchase"], 0.7, np.full(n_view, -1)),
        (ptype == PT["search"], EV["search"], 0.05, np.full(n_view, -1)),
        ((ptype == PT["content"]) & (u < 0.25), EV["video_play"], 0.3, np.full(n_view, -1)),
        ((ptype == PT["account"]) & (u < 0.35), EV["form_submit"], 0.7, np.full(n_view, -1)),
        ((ptype == PT["content"]) & (u > 0.98), EV["form_submit"], 0.8, np.full(n_view, -1)),
        (
            np.isin(ptype, [PT["home"], PT["content"], PT["product"]]) & (u > 0.5) & (u < 0.56),
            EV["cta_click"],
            0.5,
            np.full(n_view, -1),
        ),
    ]
    a_pv, a_type, a_time, a_prod = [], [], [], []
    for mask, etype, frac, prod in actions:
        idx = np.flatnonzero(mask)
        a_pv.append(idx)
        a_type.append(np.full(len(idx), etype))
        a_time.append(pv_time[idx] + (dwell[idx] * frac).astype(np.int64) + 1)
        a_prod.append(prod[idx])
    a_pv_all = np.concatenate(a_pv)

    # ---- assemble ------------------------------------------------------------------------
    ev_pv = np.concatenate([np.arange(n_view), ping_pv, a_pv_all])
    n_views, n_pings = n_view, len(ping_pv)
    event_type = np.concatenate(
        [np.full(n_views, EV["page_view"]), np.full(n_pings, EV["page_ping"]), *a_type]
    ).astype(np.int8)
    occurred = np.concatenate([pv_time, ping_time, *a_time]).astype(np.int64)
    ev_product = np.concatenate([product, product[ping_pv], *a_prod]).astype(np.int64)
    engaged = np.concatenate(
        [np.full(n_views, -1), ping_engaged.astype(np.int64), np.full(len(a_pv_all), -1)]
    )
    scroll = np.concatenate([np.full(n_views, -1), ping_scroll, np.full(len(a_pv_all), -1)])
    # the search event carries what the visitor typed: the results page's query, sometimes
    # with a capital first letter (variants follow the plain terms in typed_search_terms())
    is_search = event_type == EV["search"]
    typed = page[ev_pv] - cat.search_page0
    typed = typed + len(SEARCH_TERMS) * (rng.random(len(ev_pv)) < CAPITALISED_SEARCH_SHARE)
    term = np.where(is_search, typed, -1)
    ev_s = pv_s[ev_pv]
    channel = np.full(len(ev_pv), -1, dtype=np.int64)
    landing_view = np.zeros(len(ev_pv), dtype=bool)
    landing_view[:n_views] = pos == 0
    channel[landing_view] = s_channel[ev_s[landing_view]]
    channel[landing_view & (s_channel == 0)[ev_s]] = -1  # direct: no referrer, no utm

    keep = occurred < t1
    n_ev = int(keep.sum())
    ev_pv, ev_s, event_type, occurred = ev_pv[keep], ev_s[keep], event_type[keep], occurred[keep]
    ev_product, engaged, channel = ev_product[keep], engaged[keep], channel[keep]
    term, scroll = term[keep], scroll[keep]

    # ---- delivery: normal, late, duplicated ---------------------------------------------
    delay = np.minimum(rng.lognormal(np.log(45.0), 0.9, n_ev) * SEC, 10 * MIN).astype(np.int64)
    late = rng.random(n_ev) < LATE_SHARE
    # late: 1-71 h, so that a later duplicate copy (<= 50 min more) still lands within 72 h
    delay = np.where(late, rng.integers(HOUR + MIN, 71 * HOUR, n_ev), delay)
    loaded = occurred + delay
    if load_floor is not None:
        loaded = np.maximum(loaded, load_floor + 1 + (delay % (5 * MIN)))
    loaded = np.minimum(loaded, t1)
    serial = np.arange(n_ev, dtype=np.int64)
    dup = (rng.random(n_ev) < DUPLICATE_SHARE) & (loaded < t1 - SEC)
    dup_idx = np.flatnonzero(dup)
    dup_loaded = np.minimum(loaded[dup_idx] + rng.integers(SEC, 50 * MIN, len(dup_idx)), t1)
    rows = np.concatenate([np.arange(n_ev), dup_idx])
    loaded_all = np.concatenate([loaded, dup_loaded])
    # rows in load order, like a warehouse table filled by a loader
    order = np.lexsort((rows, loaded_all))
    rows, loaded_all = rows[order], loaded_all[order]

    s_serial = serial_offset + np.arange(n_s, dtype=np.int64)
    return EventFrame(
        device=s_dev[ev_s][rows],
        session=ev_s[rows],
        person=s_person[ev_s][rows],
        event_type=event_type[rows],
        page=page[ev_pv][rows],
        product=ev_product[rows],
        engaged=engaged[rows],
        term=term[rows],
        scroll=scroll[rows],
        channel=channel[rows],
        occurred=occurred[rows],
        loaded=loaded_all,
        serial=serial_offset + serial[rows],
        session_is_app=s_is_app,
        session_serial=s_serial,
    )


def purchases_of(frame: EventFrame) -> Purchases:
    """One purchase per distinct purchase event (duplicates ignored)."""
    is_p = frame.event_type == EV["purchase"]
    serial, first = np.unique(frame.serial[is_p], return_index=True)
    del serial
    idx = np.flatnonzero(is_p)[first]
    # the product added to cart in that session: look it up from add_to_cart events
    add = frame.event_type == EV["add_to_cart"]
    sess_product = np.full(int(frame.session.max(initial=-1)) + 1, -1, dtype=np.int64)
    sess_product[frame.session[add]] = frame.product[add]
    product = sess_product[frame.session[idx]]
    return Purchases(person=frame.person[idx], time=frame.occurred[idx], product=product)


def abandoned_carts(frame: EventFrame) -> tuple[np.ndarray, np.ndarray]:
    """Identified sessions with an add_to_cart and no purchase: (person, last cart time)."""
    n_s = len(frame.session_serial)
    cart_t = np.full(n_s, -1, dtype=np.int64)
    add = (frame.event_type == EV["add_to_cart"]) & (frame.person >= 0)
    np.maximum.at(cart_t, frame.session[add], frame.occurred[add])
    bought = np.zeros(n_s, dtype=bool)
    bought[frame.session[frame.event_type == EV["purchase"]]] = True
    person = np.full(n_s, -1, dtype=np.int64)
    person[frame.session[add]] = frame.person[add]
    sessions = np.flatnonzero((cart_t >= 0) & ~bought)
    return person[sessions], cart_t[sessions]


def to_arrow(frame: EventFrame, pop: Population, id_salt: int) -> pa.Table:
    cat = catalog()
    n = len(frame)
    ptype = cat.page_type[frame.page]
    page_cat = cat.page_category[frame.page]
    prod_cat = np.where(frame.product >= 0, cat.product_category[np.maximum(frame.product, 0)], -1)
    prod_cat = np.where(ptype == PT["category"], page_cat, prod_cat)
    ch = np.maximum(frame.channel, 0)
    has_ch = frame.channel >= 0
    ch_cols = [strings([c[i] for c in CHANNELS]) for i in range(4)]
    ch_valid = [np.array([c[i] is not None for c in CHANNELS])[ch] & has_ch for i in range(4)]
    sess_ids = uuid_ids(frame.session_serial, id_salt ^ 0x5E55)
    dev = pa.array(frame.device.astype(np.int32))
    cols = {
        "event_id": uuid_ids(frame.serial, id_salt),
        "anonymous_id": pa.DictionaryArray.from_arrays(dev, pop.anonymous_id),
        "user_id": lookup(pop.user_id, np.maximum(frame.person, 0), frame.person >= 0),
        "session_id": lookup(sess_ids, frame.session, frame.session_is_app[frame.session]),
        "event_type": lookup(strings(EVENT_TYPES), frame.event_type),
        "page_type": lookup(strings(PAGE_TYPES), ptype),
        "page_url": lookup(cat.page_url, frame.page),
        "product_id": lookup(cat.product_id, np.maximum(frame.product, 0), frame.product >= 0),
        "product_category": lookup(category_names(), np.maximum(prod_cat, 0), prod_cat >= 0),
        "engaged_seconds": pa.array(frame.engaged.astype(np.int32), mask=frame.engaged < 0),
        "search_term": lookup(typed_search_terms(), np.maximum(frame.term, 0), frame.term >= 0),
        "scroll_depth_percent": pa.array(frame.scroll.astype(np.int32), mask=frame.scroll < 0),
    }
    for a in DEVICE_ATTRS:
        cols[a] = pa.DictionaryArray.from_arrays(dev, pop.attrs[a])
    for i, name in enumerate(("referrer", "utm_source", "utm_medium", "utm_campaign")):
        cols[name] = lookup(ch_cols[i], ch, ch_valid[i])
    cols["occurred_at"] = timestamps(frame.occurred * 1000)
    cols["loaded_at"] = timestamps(frame.loaded * 1000)
    assert n == len(cols["event_id"])
    return pa.table(cols)


__all__ = ["DAY", "EventFrame", "build_events", "purchases_of", "to_arrow"]
