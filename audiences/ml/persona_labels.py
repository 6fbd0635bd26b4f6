"""A persona's readable label, derived from its profile: the traits in which its members
differ most from the population (standardized mean difference), e.g. "frequent high-AOV
mobile evening buyer"."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Trait:
    feature: str
    high: str | None  # word when the persona is above the population
    low: str | None  # word when it is below


#: in the order the words are written in a label
TRAITS: tuple[Trait, ...] = (
    Trait("sessions_30d", "frequent", "occasional"),
    Trait("days_since_last_visit", "lapsed", "recent"),
    Trait("product_views_30d", "product-browsing", None),
    Trait("add_to_carts_30d", "cart-building", None),
    Trait("average_order_value", "high-AOV", "low-AOV"),
    Trait("is_mobile", "mobile", "desktop"),
    Trait("evening_session_share", "evening", "daytime"),
    Trait("email_open_rate_90d", "email-engaged", None),
    # survey features (audiences/ml/survey_features.py), present when people answered
    Trait("interest_outdoors", "outdoorsy", None),
    Trait("interest_cooking", "food-loving", None),
    Trait("interest_tech", "tech-minded", None),
    Trait("interest_fashion", "fashion-minded", None),
    Trait("interest_fitness", "fitness-minded", None),
    Trait("interest_travel", "travel-loving", None),
    Trait("value_sustainability", "eco-minded", None),
    Trait("value_price", "price-conscious", None),
    Trait("value_quality", "quality-seeking", None),
    Trait("value_convenience", "convenience-seeking", None),
)
#: a trait is named when the persona's mean is at least this many population standard
#: deviations from the population mean
MIN_DIFFERENCE = 0.5
MAX_WORDS = 3
BUYER_MIN_SHARE = 0.5


def persona_label(differences: Mapping[str, float], buyer_share: float) -> str:
    """Up to MAX_WORDS trait words (largest differences first, written in TRAITS order),
    then "buyer" when at least half the members have bought, else "visitor"."""
    candidates = []
    for position, trait in enumerate(TRAITS):
        z = differences.get(trait.feature, 0.0)
        word = trait.high if z >= MIN_DIFFERENCE else trait.low if z <= -MIN_DIFFERENCE else None
        if word:
            candidates.append((-abs(z), position, word))
    chosen = sorted(sorted(candidates)[:MAX_WORDS], key=lambda c: c[1])
    noun = "buyer" if buyer_share >= BUYER_MIN_SHARE else "visitor"
    words = [c[2] for c in chosen] or ["typical"]
    return " ".join([*words, noun])


def persona_key(label: str, taken: set[str]) -> str:
    """persona_<slug of the label>, with _2, _3 ... when another persona has the key."""
    slug = re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    key = f"persona_{slug}"
    n = 2
    while key in taken:
        key = f"persona_{slug}_{n}"
        n += 1
    taken.add(key)
    return key
