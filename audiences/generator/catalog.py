"""Static reference data of the demo shop: pages, products, places, devices, channels.

The catalogue is built from a fixed seed, so it is identical for every generator seed and
across `--append` runs; only behaviour depends on the user's seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from audiences.generator.ids import stream

SITE = "https://shop.example.com"

EVENT_TYPES = (
    "page_view",
    "page_ping",
    "add_to_cart",
    "remove_from_cart",
    "begin_checkout",
    "purchase",
    "search",
    "video_play",
    "form_submit",
    "cta_click",
)
EV = {name: code for code, name in enumerate(EVENT_TYPES)}

PAGE_TYPES = (
    "home",
    "category",
    "product",
    "cart",
    "checkout",
    "content",
    "search",
    "account",
    "other",
)
PT = {name: code for code, name in enumerate(PAGE_TYPES)}

CATEGORIES = (
    "electronics",
    "books",
    "home_kitchen",
    "fashion",
    "beauty",
    "sports",
    "toys",
    "grocery",
    "garden",
    "music",
    "pets",
    "office",
)
CATEGORY_WEIGHTS = np.array([14, 12, 11, 13, 8, 8, 7, 6, 5, 6, 5, 5], dtype=float)
# median unit price per category, USD
CATEGORY_PRICE = np.array([30, 11, 17, 22, 13, 20, 14, 7, 16, 10, 12, 8], dtype=float)

N_PRODUCTS = 2400
N_ARTICLES = 320
SEARCH_TERMS = (
    "headphones", "running shoes", "coffee", "gift", "sale", "lamp", "novel", "yoga mat",
    "charger", "dress", "lego", "dog food", "notebook", "vinyl", "serum", "tent", "blender",
    "jacket", "sunscreen", "desk", "kettle", "backpack", "watch", "puzzle", "candle",
)  # fmt: skip
ACCOUNT_PATHS = ("/account", "/account/orders", "/login", "/account/wishlist")
OTHER_PATHS = ("/about", "/contact", "/shipping", "/returns", "/stores", "/faq")

# (country, ISO 3166-2 region code, city, IANA time zone, weight). Every (country, region)
# and its zone must match seeds/geo_time_zones.csv (tested).
PLACES = (
    ("US", "NY", "New York", "America/New_York", 9.0),
    ("US", "NY", "Buffalo", "America/New_York", 1.0),
    ("US", "CA", "Los Angeles", "America/Los_Angeles", 7.0),
    ("US", "CA", "San Francisco", "America/Los_Angeles", 4.0),
    ("US", "IL", "Chicago", "America/Chicago", 5.0),
    ("US", "TX", "Houston", "America/Chicago", 4.0),
    ("US", "TX", "Austin", "America/Chicago", 2.5),
    ("US", "WA", "Seattle", "America/Los_Angeles", 3.0),
    ("US", "MA", "Boston", "America/New_York", 3.0),
    ("US", "FL", "Miami", "America/New_York", 3.0),
    ("US", "CO", "Denver", "America/Denver", 2.5),
    ("US", "GA", "Atlanta", "America/New_York", 2.5),
    ("US", "AZ", "Phoenix", "America/Phoenix", 1.5),
    ("CA", "ON", "Toronto", "America/Toronto", 4.0),
    ("CA", "BC", "Vancouver", "America/Vancouver", 2.0),
    ("CA", "QC", "Montreal", "America/Toronto", 2.0),
    ("GB", "ENG", "London", "Europe/London", 6.0),
    ("GB", "ENG", "Manchester", "Europe/London", 2.0),
    ("GB", "SCT", "Edinburgh", "Europe/London", 1.0),
    ("IE", "L", "Dublin", "Europe/Dublin", 1.5),
    ("DE", "BE", "Berlin", "Europe/Berlin", 2.5),
    ("DE", "BY", "Munich", "Europe/Berlin", 2.0),
    ("FR", "IDF", "Paris", "Europe/Paris", 2.5),
    ("NL", "NH", "Amsterdam", "Europe/Amsterdam", 1.5),
    ("ES", "MD", "Madrid", "Europe/Madrid", 1.0),
    ("AU", "NSW", "Sydney", "Australia/Sydney", 2.0),
    ("AU", "VIC", "Melbourne", "Australia/Melbourne", 1.5),
    ("AU", "QLD", "Brisbane", "Australia/Brisbane", 1.0),
    ("AU", "WA", "Perth", "Australia/Perth", 0.5),
)
TIME_ZONES = tuple(sorted({p[3] for p in PLACES}))

# (device_type, browser, os, weight, is_app)
DEVICES = (
    ("desktop", "Chrome", "Windows", 20.0, False),
    ("desktop", "Edge", "Windows", 6.0, False),
    ("desktop", "Firefox", "Windows", 2.5, False),
    ("desktop", "Safari", "macOS", 8.0, False),
    ("desktop", "Chrome", "macOS", 5.0, False),
    ("desktop", "Chrome", "Linux", 1.0, False),
    ("mobile", "Safari", "iOS", 15.0, False),
    ("mobile", "Chrome", "Android", 12.0, False),
    ("mobile", "Samsung Internet", "Android", 3.5, False),
    ("tablet", "Safari", "iPadOS", 4.0, False),
    ("tablet", "Chrome", "Android", 1.5, False),
    ("mobile", "Shop App", "iOS", 11.0, True),
    ("mobile", "Shop App", "Android", 8.5, True),
    ("tablet", "Shop App", "iPadOS", 1.0, True),
)

# (referrer, utm_source, utm_medium, utm_campaign, web weight, app weight)
CHANNELS = (
    (None, None, None, None, 30.0, 70.0),
    ("https://www.google.com/", None, None, None, 24.0, 0.0),
    ("https://www.bing.com/", None, None, None, 3.0, 0.0),
    ("https://www.facebook.com/", None, None, None, 4.0, 0.0),
    ("https://www.instagram.com/", None, None, None, 3.0, 0.0),
    ("https://www.google.com/", "google", "cpc", "brand_search", 6.0, 0.0),
    ("https://www.google.com/", "google", "cpc", "generic_shopping", 6.0, 0.0),
    ("https://www.facebook.com/", "facebook", "paid_social", "autumn_sale", 5.0, 0.0),
    ("https://www.instagram.com/", "instagram", "paid_social", "new_arrivals", 3.0, 0.0),
    (None, "newsletter", "email", "weekly_digest", 6.0, 8.0),
    ("https://www.reviewhub.example/", None, None, None, 4.0, 0.0),
    ("https://deals.example.net/", "awin", "affiliate", "evergreen", 3.0, 0.0),
    ("https://www.tiktok.com/", "tiktok", "paid_social", "creator_collab", 3.0, 0.0),
    (None, "push", "push", "back_in_stock", 0.0, 22.0),
)

# local hour-of-day weights: night trough 2-5 h, evening peak 19-22 h
HOUR_WEIGHTS = np.array(
    [2.9, 1.6, 0.75, 0.5, 0.5, 0.8, 1.7, 2.9, 3.8, 4.3, 4.6, 4.7,
     4.8, 4.7, 4.6, 4.6, 4.8, 5.2, 6.0, 7.2, 8.0, 8.3, 7.0, 4.9],
    dtype=float,
)  # fmt: skip
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()


@dataclass(frozen=True)
class Catalog:
    """Pages and products as parallel arrays; page_* arrays are indexed by page id."""

    page_url: pa.Array
    page_type: np.ndarray  # int8 code into PAGE_TYPES
    page_product: np.ndarray  # product index or -1
    page_category: np.ndarray  # category index or -1
    product_id: pa.Array
    product_category: np.ndarray
    product_price_cents: np.ndarray
    category_first_product: np.ndarray
    category_n_products: np.ndarray
    product_page0: int
    category_page0: int
    article_page0: int
    search_page0: int
    account_page0: int
    other_page0: int
    home_page: int
    cart_page: int
    checkout_page: int
    confirmation_page: int
    place_zone: np.ndarray  # index into TIME_ZONES
    place_weights: np.ndarray
    device_weights: np.ndarray
    device_is_app: np.ndarray
    channel_web_weights: np.ndarray
    channel_app_weights: np.ndarray
    channel_has_utm: np.ndarray


def _table(values: list[str | None]) -> pa.Array:
    return pa.array(values, type=pa.string())


@lru_cache(maxsize=1)
def catalog() -> Catalog:
    rng = stream(20_240_501, "catalog")
    n_cat = len(CATEGORIES)
    share = CATEGORY_WEIGHTS / CATEGORY_WEIGHTS.sum()
    counts = np.maximum(40, np.floor(share * N_PRODUCTS)).astype(np.int64)
    product_category = np.repeat(np.arange(n_cat), counts)
    n_products = len(product_category)
    price = CATEGORY_PRICE[product_category] * rng.lognormal(0.0, 0.5, n_products)
    price_cents = np.maximum(99, np.round(price * 100 / 50) * 50 - 1).astype(np.int64)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    product_ids = [f"P{10000 + i}" for i in range(n_products)]

    urls: list[str] = [f"{SITE}/"]
    ptype = [PT["home"]]
    pprod = [-1]
    pcat = [-1]
    category_page0 = len(urls)
    for c, name in enumerate(CATEGORIES):
        urls.append(f"{SITE}/c/{name}")
        ptype.append(PT["category"])
        pprod.append(-1)
        pcat.append(c)
    product_page0 = len(urls)
    for i in range(n_products):
        urls.append(f"{SITE}/p/{product_ids[i].lower()}")
        ptype.append(PT["product"])
        pprod.append(i)
        pcat.append(int(product_category[i]))
    article_page0 = len(urls)
    for i in range(N_ARTICLES):
        urls.append(f"{SITE}/journal/article-{i + 1:03d}")
        ptype.append(PT["content"])
        pprod.append(-1)
        pcat.append(int(i % n_cat))
    search_page0 = len(urls)
    for term in SEARCH_TERMS:
        urls.append(f"{SITE}/search?q={term.replace(' ', '+')}")
        ptype.append(PT["search"])
        pprod.append(-1)
        pcat.append(-1)
    account_page0 = len(urls)
    for path in ACCOUNT_PATHS:
        urls.append(SITE + path)
        ptype.append(PT["account"])
        pprod.append(-1)
        pcat.append(-1)
    other_page0 = len(urls)
    for path in OTHER_PATHS:
        urls.append(SITE + path)
        ptype.append(PT["other"])
        pprod.append(-1)
        pcat.append(-1)
    cart_page = len(urls)
    urls += [f"{SITE}/cart", f"{SITE}/checkout", f"{SITE}/checkout/confirmation"]
    ptype += [PT["cart"], PT["checkout"], PT["checkout"]]
    pprod += [-1, -1, -1]
    pcat += [-1, -1, -1]

    place_w = np.array([p[4] for p in PLACES])
    dev_w = np.array([d[3] for d in DEVICES])
    return Catalog(
        page_url=_table(urls),
        page_type=np.array(ptype, dtype=np.int8),
        page_product=np.array(pprod, dtype=np.int64),
        page_category=np.array(pcat, dtype=np.int64),
        product_id=_table(product_ids),
        product_category=product_category,
        product_price_cents=price_cents,
        category_first_product=first,
        category_n_products=counts,
        product_page0=product_page0,
        category_page0=category_page0,
        article_page0=article_page0,
        search_page0=search_page0,
        account_page0=account_page0,
        other_page0=other_page0,
        home_page=0,
        cart_page=cart_page,
        checkout_page=cart_page + 1,
        confirmation_page=cart_page + 2,
        place_zone=np.array([TIME_ZONES.index(p[3]) for p in PLACES], dtype=np.int64),
        place_weights=place_w / place_w.sum(),
        device_weights=dev_w / dev_w.sum(),
        device_is_app=np.array([d[4] for d in DEVICES], dtype=bool),
        channel_web_weights=np.array([c[4] for c in CHANNELS]) / sum(c[4] for c in CHANNELS),
        channel_app_weights=np.array([c[5] for c in CHANNELS]) / sum(c[5] for c in CHANNELS),
        channel_has_utm=np.array([c[1] is not None for c in CHANNELS], dtype=bool),
    )


def strings(values: tuple | list) -> pa.Array:
    return pa.array(list(values), type=pa.string())


def category_names() -> pa.Array:
    return strings(CATEGORIES)
