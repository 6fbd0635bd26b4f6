"""The generated demo data shows the behaviours segment rules look for, at plausible rates.

Generated with the test settings of the project (200,000 events, seed 7, as_of
2026-11-24T00:00:00). Each behaviour is counted here with its own SQL (window functions),
independently of audiences.generator.playbooks, and both counts must agree.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import parse_qs, urlparse

import duckdb
import pytest

from audiences.generator import GenerationConfig, generate
from audiences.generator.playbooks import playbook_counts
from audiences.generator.profile import profile

AS_OF = datetime(2026, 11, 24)
EVENTS = 200_000
SEED = 7

DEDUPED = """(SELECT * FROM raw.events
              QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1)"""

REPEAT_VIEWERS = f"""
SELECT count(DISTINCT anonymous_id) FROM (
    SELECT anonymous_id, product_id FROM {DEDUPED}
    WHERE event_type = 'page_view' AND page_type = 'product'
      AND occurred_at > $as_of - INTERVAL 24 HOUR AND occurred_at <= $as_of
    GROUP BY anonymous_id, product_id
    HAVING count(*) > 3)
"""

# per add to cart: the latest view of the same product in the 30 minutes before it, and
# the first purchase of the device in the 30 minutes from it
CART_SEQUENCES = f"""
WITH marked AS (
    SELECT anonymous_id, product_id, event_type, occurred_at,
        max(CASE WHEN event_type = 'page_view' AND page_type = 'product' THEN occurred_at END)
            OVER (PARTITION BY anonymous_id, product_id ORDER BY occurred_at
                  RANGE BETWEEN INTERVAL 30 MINUTE PRECEDING AND CURRENT ROW) AS viewed_at,
        min(CASE WHEN event_type = 'purchase' THEN occurred_at END)
            OVER (PARTITION BY anonymous_id ORDER BY occurred_at
                  RANGE BETWEEN CURRENT ROW AND INTERVAL 30 MINUTE FOLLOWING) AS bought_at
    FROM {DEDUPED}
)
SELECT
    count(DISTINCT anonymous_id) FILTER (WHERE bought_at IS NULL),
    count(DISTINCT anonymous_id) FILTER (WHERE bought_at IS NOT NULL)
FROM marked
WHERE event_type = 'add_to_cart' AND viewed_at IS NOT NULL
  AND occurred_at > $as_of - INTERVAL 24 HOUR AND occurred_at <= $as_of
"""


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("playbooks") / "playbooks.duckdb"
    generate(GenerationConfig(db_path=path, events=EVENTS, seed=SEED, as_of=AS_OF))
    return path


@pytest.fixture(scope="module")
def con(db):
    c = duckdb.connect(str(db), read_only=True)
    yield c
    c.close()


def _one(con, sql: str) -> tuple:
    params = {"as_of": AS_OF} if "$as_of" in sql else None
    return con.execute(sql, params).fetchone()


def test_comparison_shoppers_revisit_one_product_in_the_last_day(con, db):
    (viewers,) = _one(con, REPEAT_VIEWERS)
    # ~250 devices are active in the last 24 h at this size; comparison shoppers are
    # ~15 % of them (a few hundred at 1,000,000 events)
    assert viewers >= 20
    assert playbook_counts(db, AS_OF)["repeat_product_viewers_24h"] == viewers


def test_view_then_cart_with_and_without_a_purchase_within_30_minutes(con, db):
    abandoned, bought = _one(con, CART_SEQUENCES)
    assert abandoned >= 10
    assert bought >= 10
    counts = playbook_counts(db, AS_OF)
    assert (counts["cart_no_purchase_30m_24h"], counts["cart_purchase_30m_24h"]) == (
        abandoned,
        bought,
    )


def test_interaction_events_at_plausible_rates(db):
    p = profile(db)
    # shares of (30-minute inactivity) sessions; see docs/generator-calibration.md
    assert 0.05 <= p["sessions_with_search_share"] <= 0.30
    assert 0.02 <= p["sessions_with_video_play_share"] <= 0.15
    assert 0.02 <= p["sessions_with_cta_click_share"] <= 0.15
    assert 0.005 <= p["sessions_with_form_submit_share"] <= 0.05
    assert 0.10 <= p["repeat_item_pair_share"] <= 0.30  # public reference: 15.5 %
    assert 0.6 <= p["cart_abandonment_share"] <= 0.8  # public reference: ~70 %


def test_search_term_only_on_search_events_and_matches_the_results_page(con):
    rows = con.execute(
        "SELECT event_type, search_term, page_url FROM raw.events "
        "WHERE event_type = 'search' OR search_term IS NOT NULL"
    ).fetchall()
    assert len(rows) > 1000
    capitalised = 0
    for event_type, term, url in rows:
        assert event_type == "search", (event_type, term)
        assert term is not None and term.strip() == term and term != ""
        assert term.lower() == parse_qs(urlparse(url).query)["q"][0]
        capitalised += term[0].isupper()
    assert 0.05 < capitalised / len(rows) < 0.25


def test_scroll_depth_only_on_pings_within_0_100_and_never_decreasing(con):
    r = _one(
        con,
        """SELECT count(*) FILTER (WHERE event_type = 'page_ping' AND scroll_depth_percent IS NULL),
                  count(*) FILTER (WHERE event_type <> 'page_ping'
                                   AND scroll_depth_percent IS NOT NULL),
                  min(scroll_depth_percent), max(scroll_depth_percent),
                  count(*) FILTER (WHERE scroll_depth_percent IS NOT NULL)
           FROM raw.events""",
    )
    assert r[:2] == (0, 0)
    assert r[2] >= 0 and r[3] <= 100 and r[4] > 10_000
    # pings of one page view: same device, after the same latest page view
    decreasing, pages = _one(
        con,
        f"""WITH pv AS (
                SELECT event_type, scroll_depth_percent AS depth, page_type, occurred_at,
                       anonymous_id,
                       max(CASE WHEN event_type = 'page_view' THEN occurred_at END) OVER (
                           PARTITION BY anonymous_id ORDER BY occurred_at, event_type DESC
                           ROWS UNBOUNDED PRECEDING) AS view_at
                FROM {DEDUPED} WHERE event_type IN ('page_view', 'page_ping'))
            SELECT count(*) FILTER (WHERE depth < prev), count(DISTINCT (anonymous_id, view_at))
            FROM (SELECT *, lag(depth) OVER (PARTITION BY anonymous_id, view_at
                                             ORDER BY occurred_at) AS prev
                  FROM pv WHERE event_type = 'page_ping')""",
    )
    assert decreasing == 0 and pages > 1000
    # articles are read further down than the home page
    content, home = _one(
        con,
        """SELECT avg(scroll_depth_percent) FILTER (WHERE page_type = 'content'),
                  avg(scroll_depth_percent) FILTER (WHERE page_type = 'home')
           FROM raw.events WHERE event_type = 'page_ping'""",
    )
    assert content > home + 5
