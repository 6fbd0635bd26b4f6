"""Counts of the playbook behaviours that segment rules look for, measured in SQL.

Each count is the number of distinct devices (anonymous_id) whose de-duplicated events show
the behaviour, relative to `as_of`:

- repeat_product_viewers_24h: page_view events on product pages (page_type product) of ONE
  product_id, more than 3 of them inside (as_of - 24 h, as_of];
- cart_no_purchase_30m_24h: an add_to_cart inside (as_of - 24 h, as_of] preceded by a
  page_view of the same product at most 30 minutes earlier, and no purchase event in the
  30 minutes from the add to cart;
- cart_purchase_30m_24h: the same sequence followed by a purchase within those 30 minutes.

The definitions are the ones the tests and docs/generator-calibration.md use.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import duckdb

from audiences.generator.writer import quote


def playbook_sql(schema: str = "raw") -> str:
    """One row of counts; the single parameter ($as_of) is the naive UTC as_of timestamp."""
    s = quote(schema)
    return f"""
        WITH events AS (
            SELECT * FROM {s}.events
            QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY loaded_at) = 1
        ),
        product_views AS (
            SELECT anonymous_id, product_id, occurred_at FROM events
            WHERE event_type = 'page_view' AND page_type = 'product' AND product_id IS NOT NULL
        ),
        repeat_viewers AS (
            SELECT DISTINCT anonymous_id FROM product_views
            WHERE occurred_at > $as_of - INTERVAL 24 HOUR AND occurred_at <= $as_of
            GROUP BY anonymous_id, product_id HAVING count(*) > 3
        ),
        carts AS (
            SELECT DISTINCT c.anonymous_id, c.product_id, c.occurred_at
            FROM events AS c
            JOIN product_views AS v
                ON v.anonymous_id = c.anonymous_id AND v.product_id = c.product_id
                AND v.occurred_at <= c.occurred_at
                AND v.occurred_at >= c.occurred_at - INTERVAL 30 MINUTE
            WHERE c.event_type = 'add_to_cart'
                AND c.occurred_at > $as_of - INTERVAL 24 HOUR AND c.occurred_at <= $as_of
        ),
        outcomes AS (
            SELECT carts.anonymous_id, EXISTS (
                SELECT 1 FROM events AS p
                WHERE p.anonymous_id = carts.anonymous_id AND p.event_type = 'purchase'
                    AND p.occurred_at >= carts.occurred_at
                    AND p.occurred_at <= carts.occurred_at + INTERVAL 30 MINUTE
            ) AS purchased
            FROM carts
        )
        SELECT
            (SELECT count(*) FROM repeat_viewers) AS repeat_product_viewers_24h,
            (SELECT count(DISTINCT anonymous_id) FROM outcomes WHERE NOT purchased)
                AS cart_no_purchase_30m_24h,
            (SELECT count(DISTINCT anonymous_id) FROM outcomes WHERE purchased)
                AS cart_purchase_30m_24h
    """


def playbook_counts(db_path: Path | str, as_of: datetime, schema: str = "raw") -> dict[str, int]:
    """Count the devices showing each playbook behaviour at `as_of` (naive UTC)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        cur = con.execute(playbook_sql(schema), {"as_of": as_of})
        names = [d[0] for d in cur.description]
        row = cur.fetchone()
        assert row is not None
        return dict(zip(names, (int(v) for v in row), strict=True))
    finally:
        con.close()
